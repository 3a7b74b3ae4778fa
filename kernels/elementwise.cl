/* elementwise.cl -- element-wise kernels of the crease OpenCL backend.
 *
 * OpenCL C 1.2, no extensions.  All kernel files are compiled together as
 * one program, so every name carries a crease_ prefix.  Global sizes are
 * rounded up to a multiple of the work-group size by the host, so every
 * kernel checks its index.  Sizes that can pass 2^31 elements are ulong. */

#define CREASE_ACT_IDENTITY 0
#define CREASE_ACT_RELU 1
#define CREASE_ACT_LEAKY_RELU 2
#define CREASE_ACT_TANH 3
#define CREASE_ACT_SIGMOID 4

/* Same forms as the CPU reference: NaN propagates through every activation
 * (relu(NaN) = NaN) and relu(-0) = -0. */
float crease_act1(int act, float alpha, float x)
{
    switch (act) {
    case CREASE_ACT_RELU:
        return x < 0.0f ? 0.0f : x;
    case CREASE_ACT_LEAKY_RELU:
        return x > 0.0f ? x : alpha * x;
    case CREASE_ACT_TANH:
        return tanh(x);
    case CREASE_ACT_SIGMOID:
        /* two forms so exp never overflows into inf/inf */
        if (x >= 0.0f)
            return 1.0f / (1.0f + exp(-x));
        else {
            float e = exp(x);
            return e / (1.0f + e);
        }
    default:
        return x;
    }
}

/* f'(.) * dy in terms of the activation's output y. */
float crease_act1_bwd(int act, float alpha, float y, float dy)
{
    switch (act) {
    case CREASE_ACT_RELU:
        return y > 0.0f ? dy : 0.0f;
    case CREASE_ACT_LEAKY_RELU:
        return y > 0.0f ? dy : alpha * dy;
    case CREASE_ACT_TANH:
        return (1.0f - y * y) * dy;
    case CREASE_ACT_SIGMOID:
        return y * (1.0f - y) * dy;
    default:
        return dy;
    }
}

__kernel void crease_fill(ulong n, float value, __global float *x)
{
    size_t i = get_global_id(0);
    if (i < n)
        x[i] = value;
}

__kernel void crease_scale(ulong n, float alpha, __global float *x)
{
    size_t i = get_global_id(0);
    if (i < n)
        x[i] = alpha * x[i];
}

__kernel void crease_axpy(ulong n, float alpha, __global const float *x,
                          __global float *y)
{
    size_t i = get_global_id(0);
    if (i < n)
        y[i] = y[i] + alpha * x[i];
}

/* C (m x n, row stride ld) = beta * C; beta == 0 writes zeros without
 * reading C, so NaN in C is dropped (GEMM with k == 0). */
__kernel void crease_scale_matrix(int m, int n, int ld, float beta,
                                  __global float *c)
{
    int j = get_global_id(0);
    int r = get_global_id(1);
    if (j >= n || r >= m)
        return;
    size_t i = (size_t)r * ld + j;
    c[i] = beta == 0.0f ? 0.0f : beta * c[i];
}

/* Row and column of element i of a matrix with `cols` columns; 32-bit
 * division where the index fits (it nearly always does). */
void crease_rc(size_t i, int cols, size_t *r, int *j)
{
    if (i <= 0xffffffffu) {
        uint q = (uint)i / (uint)cols;
        *r = q;
        *j = (int)((uint)i - q * (uint)cols);
    } else {
        *r = i / (size_t)cols;
        *j = (int)(i - *r * (size_t)cols);
    }
}

/* y[r, j] += bias[j], one work-item per element. */
__kernel void crease_bias_add(int rows, int cols, __global float *y,
                              __global const float *bias)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols)
        return;
    size_t r;
    int j;
    crease_rc(i, cols, &r, &j);
    y[i] = y[i] + bias[j];
}

/* y = act(y + bias), the tail of dense_fwd; bias may be NULL. */
__kernel void crease_bias_act(int rows, int cols, int act, float alpha,
                              __global float *y, __global const float *bias)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols)
        return;
    float v = y[i];
    if (bias) {
        size_t r;
        int j;
        crease_rc(i, cols, &r, &j);
        v = v + bias[j];
    }
    y[i] = crease_act1(act, alpha, v);
}

/* y may be x. */
__kernel void crease_act_fwd(ulong n, int act, float alpha,
                             __global const float *x, __global float *y)
{
    size_t i = get_global_id(0);
    if (i < n)
        y[i] = crease_act1(act, alpha, x[i]);
}

/* dx may be dy. */
__kernel void crease_act_bwd(ulong n, int act, float alpha,
                             __global const float *y,
                             __global const float *dy, __global float *dx)
{
    size_t i = get_global_id(0);
    if (i < n)
        dx[i] = crease_act1_bwd(act, alpha, y[i], dy[i]);
}

/* dst[r, j] = src[idx[idx_off + r], j].  An index past the end of src
 * (src_rows rows) would read outside the buffer; such a row gets NaN so the
 * mistake shows instead of crashing the device. */
__kernel void crease_gather_rows(int rows, int cols, ulong src_rows,
                                 __global const float *src,
                                 __global const uint *idx, ulong idx_off,
                                 __global float *dst)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols)
        return;
    size_t r;
    int j;
    crease_rc(i, cols, &r, &j);
    ulong s = idx[idx_off + r];
    dst[i] = s < src_rows ? src[s * cols + j] : NAN;
}
