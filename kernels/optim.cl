/* optim.cl -- optimizer updates, one parameter tensor of n values. */

/* g = grad + wd w; v = momentum v + g; w -= lr (nesterov ? g + momentum v : v).
 * With momentum == 0, v is not touched (the host may pass NULL). */
__kernel void crease_sgd_update(ulong n, __global float *w,
                                __global const float *grad, __global float *v,
                                float lr, float momentum, float weight_decay,
                                int nesterov)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    float wi = w[i];
    /* wd == 0 leaves w out, as in the reference (0 * inf would be NaN) */
    float g = weight_decay != 0.0f ? grad[i] + weight_decay * wi : grad[i];
    if (momentum == 0.0f) {
        w[i] = wi - lr * g;
        return;
    }
    float vi = momentum * v[i] + g;
    v[i] = vi;
    w[i] = wi - lr * (nesterov ? g + momentum * vi : vi);
}

/* Adam / AdamW with bias corrections bc1 = 1 - b1^t, bc2 = 1 - b2^t from
 * the host. */
__kernel void crease_adam_update(ulong n, __global float *w,
                                 __global const float *grad,
                                 __global float *m, __global float *v,
                                 float lr, float beta1, float beta2, float eps,
                                 float weight_decay, int decoupled, float bc1,
                                 float bc2)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    float wi = w[i];
    float g = (!decoupled && weight_decay != 0.0f) ? grad[i] + weight_decay * wi : grad[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * (g * g);
    m[i] = mi;
    v[i] = vi;
    float step = (mi / bc1) / (sqrt(vi / bc2) + eps);
    if (decoupled && weight_decay != 0.0f)
        step += weight_decay * wi;
    w[i] = wi - lr * step;
}
