/* loss.cl -- losses and the confusion matrix.
 *
 * grad and loss may be NULL (the host passes a NULL buffer argument). */

/* One work-item per row; the row's reductions run in a fixed order, so the
 * result does not depend on the device's scheduling. */
__kernel void crease_softmax_xent(int rows, int cols,
                                  __global const float *logits,
                                  __global const float *labels,
                                  float grad_scale, __global float *grad,
                                  __global float *loss)
{
    int r = get_global_id(0);
    if (r >= rows)
        return;
    __global const float *z = logits + (size_t)r * cols;
    __global float *gr = grad ? grad + (size_t)r * cols : 0;
    float lab = labels[r];
    if (lab < 0.0f) { /* ignored row */
        if (loss)
            loss[r] = 0.0f;
        if (gr)
            for (int j = 0; j < cols; j++)
                gr[j] = 0.0f;
        return;
    }
    /* Not a class index (NaN, a fraction, too large): the CPU backend
     * refuses such labels up front; here they are on the device, so the
     * row's loss and gradient become NaN and the mistake shows. */
    if (!(lab < (float)cols) || lab != floor(lab)) {
        if (loss)
            loss[r] = NAN;
        if (gr)
            for (int j = 0; j < cols; j++)
                gr[j] = NAN;
        return;
    }
    int y = (int)lab;
    /* max as the CPU reference takes it, so NaN and inf give the same
     * NaN pattern: a NaN z[0] poisons the row, a later NaN does through
     * the sum */
    float m = z[0];
    for (int j = 1; j < cols; j++)
        if (z[j] > m)
            m = z[j];
    float s = 0.0f, c = 0.0f;
    for (int j = 0; j < cols; j++)
        crease_neumaier(&s, &c, exp(z[j] - m));
    s = s + c;
    /* (m - z[y]) first: exact when close, so a small loss on large logits
     * keeps its digits (m + log(s) - z[y] would cancel) */
    if (loss)
        loss[r] = (m - z[y]) + log(s);
    if (gr) {
        float inv = 1.0f / s;
        for (int j = 0; j < cols; j++) {
            float p = exp(z[j] - m) * inv;
            gr[j] = grad_scale * (p - (j == y ? 1.0f : 0.0f));
        }
    }
}

/* loss = max(z,0) - z t + log1p(exp(-|z|)); grad = gs (sigmoid(z) - t);
 * t < 0 is ignored (0, 0). */
__kernel void crease_bce_logits(ulong n, __global const float *z,
                                __global const float *t, float grad_scale,
                                __global float *grad, __global float *loss)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    float zi = z[i], ti = t[i];
    if (ti < 0.0f) {
        if (loss)
            loss[i] = 0.0f;
        if (grad)
            grad[i] = 0.0f;
        return;
    }
    if (loss)
        loss[i] = (zi > 0.0f ? zi : 0.0f) - zi * ti + log1p(exp(-fabs(zi)));
    if (grad) {
        float sg;
        if (zi >= 0.0f)
            sg = 1.0f / (1.0f + exp(-zi));
        else {
            float e = exp(zi);
            sg = e / (1.0f + e);
        }
        grad[i] = grad_scale * (sg - ti);
    }
}

/* loss = (p - t)^2; grad = gs 2 (p - t). */
__kernel void crease_mse(ulong n, __global const float *p,
                         __global const float *t, float grad_scale,
                         __global float *grad, __global float *loss)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    float d = p[i] - t[i];
    if (loss)
        loss[i] = d * d;
    if (grad)
        grad[i] = grad_scale * 2.0f * d;
}

/* Confusion counts, first step: counts[label * K + pred] += 1 per row.
 * The counts are integers, so the atomic increments give the same result
 * in any order (floats are added only in crease_confusion_add). */
__kernel void crease_confusion_count(int rows, int cols, int k,
                                     __global const float *logits,
                                     __global const float *labels,
                                     __global uint *counts)
{
    int r = get_global_id(0);
    if (r >= rows)
        return;
    float lab = labels[r];
    if (!(lab >= 0.0f) || lab >= (float)k)
        return;
    int y = (int)lab;
    __global const float *z = logits + (size_t)r * cols;
    int pred;
    if (cols == 1) {
        pred = z[0] > 0.0f ? 1 : 0;
    } else {
        /* lowest index wins ties; NaN never wins */
        pred = 0;
        float best = NAN;
        for (int j = 0; j < cols; j++) {
            float v = z[j];
            if (!isnan(v) && (isnan(best) || v > best)) {
                best = v;
                pred = j;
            }
        }
    }
    atomic_inc(&counts[y * k + pred]);
}

/* Second step: conf += counts, and the counts go back to zero for the next
 * call. */
__kernel void crease_confusion_add(int kk, __global uint *counts,
                                   __global float *conf)
{
    int i = get_global_id(0);
    if (i >= kk)
        return;
    uint v = counts[i];
    if (v) {
        conf[i] += (float)v;
        counts[i] = 0;
    }
}
