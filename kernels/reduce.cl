/* reduce.cl -- deterministic reductions.
 *
 * No atomics: every work-group reduces a fixed slice, each lane of it runs
 * a compensated (Neumaier) sum over a fixed stride, and lanes are combined
 * by a fixed pairwise tree in local memory.  The host picks the slicing
 * from the shape and the device's work-group size only, so a result is the
 * same bits from run to run.  Work-group sizes must be powers of two. */

/* Neumaier's variant of Kahan summation: stays exact when a term is larger
 * than the running sum.  Compensation is skipped once the sum is not finite
 * (inf - inf would turn an infinite sum into NaN). */
void crease_neumaier(float *s, float *c, float x)
{
    float t = *s + x;
    if (isfinite(t)) {
        if (fabs(*s) >= fabs(x))
            *c += (*s - t) + x;
        else
            *c += (x - t) + *s;
    }
    *s = t;
}

/* Work-group g sums x[g*chunk .. min(n, (g+1)*chunk)) into
 * out[out_off + g] = beta * out[out_off + g] + sum (beta == 0: not read).
 * First pass: partial sums with beta 0; second pass: one group over the
 * partials (n = chunk = number of groups of the first pass). */
__kernel void crease_sum_stage(ulong n, ulong chunk, __global const float *x,
                               __global float *out, ulong out_off, float beta,
                               __local float *tmp)
{
    size_t l = get_local_id(0);
    size_t lanes = get_local_size(0);
    ulong g = get_group_id(0);
    ulong start = g * chunk;
    ulong end = min(n, start + chunk);
    float s = 0.0f, c = 0.0f;
    for (ulong i = start + l; i < end; i += lanes)
        crease_neumaier(&s, &c, x[i]);
    tmp[l] = s + c;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t h = lanes / 2; h > 0; h >>= 1) {
        if (l < h)
            tmp[l] += tmp[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) {
        float v = tmp[0];
        __global float *o = out + out_off + g;
        *o = beta == 0.0f ? v : beta * *o + v;
    }
}

/* Column sums of x (rows x cols).  Work-group (gx, gy) has TC x TR lanes
 * (local size); it covers columns gx*TC .. +TC and rows gy*rpg .. +rpg and
 * writes out[gy * cols + j] = beta * out[...] + sum (beta == 0: not read).
 * With several row groups the host runs a second pass over the partials. */
__kernel void crease_reduce_cols(int rows, int cols, int rpg,
                                 __global const float *x, __global float *out,
                                 float beta, __local float *tmp)
{
    int lx = get_local_id(0);
    int ly = get_local_id(1);
    int tc = get_local_size(0);
    int tr = get_local_size(1);
    int j = get_group_id(0) * tc + lx;
    int g = get_group_id(1);
    int r0 = g * rpg;
    int r1 = min(rows, r0 + rpg);
    float s = 0.0f, c = 0.0f;
    if (j < cols)
        for (int r = r0 + ly; r < r1; r += tr)
            crease_neumaier(&s, &c, x[(size_t)r * cols + j]);
    tmp[ly * tc + lx] = s + c;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = tr / 2; h > 0; h >>= 1) {
        if (ly < h)
            tmp[ly * tc + lx] += tmp[(ly + h) * tc + lx];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (ly == 0 && j < cols) {
        float v = tmp[lx];
        __global float *o = out + (size_t)g * cols + j;
        *o = beta == 0.0f ? v : beta * *o + v;
    }
}
