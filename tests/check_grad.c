/* check_grad.c -- gradients of every layer and loss against central
 * differences of a double-precision host model, and the fused forward
 * against the primitive sequence. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "net.h"

#include "check_common.h"

enum { ROWS = 5, MAXP = 4096 };

static crease_device *dev;

static void setup(void)
{
    ck_assert_int_eq(crease_device_open(NULL, &dev), CREASE_OK);
}

static void teardown(void)
{
    crease_device_free(dev);
}

/* ---- the host reference, in double ---- */

static double act_d(int act, double alpha, double z)
{
    switch (act) {
    case CREASE_ACT_RELU: return z > 0 ? z : 0;
    case CREASE_ACT_LEAKY_RELU: return z > 0 ? z : alpha * z;
    case CREASE_ACT_TANH: return tanh(z);
    case CREASE_ACT_SIGMOID: return 1 / (1 + exp(-z));
    default: return z;
    }
}

/* Mean loss over ROWS rows; params are laid out layer by layer, W then b. */
static double ref_loss(const struct crease_net *n, const double *params, const double *x, const int *labels)
{
    double total = 0;
    for (int r = 0; r < ROWS; r++) {
        double a[64], z[64];
        int w0 = n->width[0];
        for (int i = 0; i < w0; i++) a[i] = x[r * w0 + i];
        const double *p = params;
        for (int l = 0; l < n->nlayers; l++) {
            int in = n->width[l], ow = n->width[l + 1];
            for (int o = 0; o < ow; o++) {
                double s = p[(size_t)in * ow + o];
                for (int i = 0; i < in; i++) s += p[o * in + i] * a[i];
                z[o] = l + 1 < n->nlayers ? act_d(n->act, n->alpha, s) : s;
            }
            memcpy(a, z, sizeof(double) * ow);
            p += (size_t)in * ow + ow;
        }
        int K = n->width[n->nlayers], y = labels[r];
        if (n->loss == CREASE_LOSS_XENT) {
            double mx = a[0];
            for (int k = 1; k < K; k++) mx = a[k] > mx ? a[k] : mx;
            double se = 0;
            for (int k = 0; k < K; k++) se += exp(a[k] - mx);
            total += mx + log(se) - a[y];
        } else if (n->loss == CREASE_LOSS_BCE) {
            double zz = a[0];
            total += (zz > 0 ? zz : 0) - zz * y + log1p(exp(-fabs(zz)));
        } else {
            for (int k = 0; k < K; k++) {
                double d = a[k] - (k == y);
                total += d * d;
            }
        }
    }
    return total / ROWS;
}

static void check_net(const char *spec, int act, crease_loss loss)
{
    crease_net_opts o;
    crease_net_opts_default(&o);
    o.act = act;
    o.leaky_alpha = 0.1f;
    o.loss = loss;
    o.seed = 7;
    crease_net *n;
    ck_assert_int_eq(crease_net_new(dev, spec, &o, &n), CREASE_OK);
    ck_assert_int_eq(crease__net_workspace(n, ROWS), CREASE_OK);

    int in = n->width[0], K = n->width[n->nlayers];
    int classes = K == 1 ? 2 : K;
    float x[ROWS * 8];
    double xd[ROWS * 8];
    int labels[ROWS];
    float lab[ROWS], onehot[ROWS * 8];
    crease_rng rng;
    crease__rng_seed(&rng, 99);
    for (int i = 0; i < ROWS * in; i++) xd[i] = x[i] = (float)(2 * crease__rng_uniform(&rng) - 1);
    for (int r = 0; r < ROWS; r++) {
        labels[r] = (int)crease__rng_below(&rng, (uint64_t)classes);
        lab[r] = (float)labels[r];
    }
    const struct crease_ops *ops = n->ops;
    ck_assert_int_eq(ops->buf_write(n->ctx, n->x, 0, sizeof(float) * ROWS * in, x), 0);
    ck_assert_int_eq(ops->buf_write(n->ctx, n->y, 0, sizeof lab, lab), 0);
    if (loss == CREASE_LOSS_MSE) {
        crease__net_onehot(n, labels, ROWS, onehot);
        ck_assert_int_eq(ops->buf_write(n->ctx, n->t, 0, sizeof(float) * ROWS * K, onehot), 0);
    }
    ck_assert_int_eq(crease__net_metrics_reset(n), 0);
    ck_assert_int_eq(crease__net_forward(n, ROWS), 0);
    ck_assert_int_eq(crease__net_loss(n, ROWS, 1), 0);
    ck_assert_int_eq(crease__net_backward(n, ROWS), 0);

    /* Parameters and analytic gradients, host side. */
    static double params[MAXP];
    static float grads[MAXP], wtmp[MAXP];
    size_t np = 0;
    for (int l = 0; l < n->nlayers; l++) {
        int a = n->width[l], b = n->width[l + 1];
        size_t nw = (size_t)a * b;
        ck_assert_int_eq(crease_net_get_layer(n, l, wtmp, wtmp + nw), 0);
        for (size_t i = 0; i < nw + (size_t)b; i++) params[np + i] = wtmp[i];
        ck_assert_int_eq(ops->buf_read(n->ctx, n->gw[l], 0, nw * sizeof(float), grads + np), 0);
        ck_assert_int_eq(ops->buf_read(n->ctx, n->gb[l], 0, (size_t)b * sizeof(float), grads + np + nw), 0);
        np += nw + (size_t)b;
    }
    ck_assert_uint_eq(np, crease_net_param_count(n));

    /* The loss the backend measured equals the reference loss. */
    crease_metrics m;
    ck_assert_int_eq(crease__net_metrics_read(n, &m), 0);
    double ref = ref_loss(n, params, xd, labels);
    ck_assert_msg(fabs(m.loss - ref) <= 1e-5 * (1 + fabs(ref)), "%s: loss %g, reference %g", spec, m.loss, ref);
    ck_assert_uint_eq(m.count, ROWS);

    /* Central differences in double. */
    double worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < np; i++) {
        double keep = params[i], h = 1e-6;
        params[i] = keep + h;
        double up = ref_loss(n, params, xd, labels);
        params[i] = keep - h;
        double down = ref_loss(n, params, xd, labels);
        params[i] = keep;
        double num = (up - down) / (2 * h);
        double err = fabs(num - grads[i]) / (1e-2 + fabs(num));
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
    }
    ck_assert_msg(worst < 2e-3, "%s act %s loss %d: gradient %zu off by %g (relative)", spec, crease_act_name(act),
                  (int)loss, worst_i, worst);
    crease_net_free(n);
}

START_TEST(test_grad_activations)
{
    const int acts[] = {CREASE_ACT_RELU, CREASE_ACT_LEAKY_RELU, CREASE_ACT_TANH, CREASE_ACT_SIGMOID,
                        CREASE_ACT_IDENTITY};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        check_net("3-7-5-3", acts[i], CREASE_LOSS_XENT);
        check_net("2-6-6-6-2", acts[i], CREASE_LOSS_XENT);
    }
}
END_TEST

START_TEST(test_grad_losses)
{
    check_net("2-9-1", CREASE_ACT_TANH, CREASE_LOSS_BCE);
    check_net("2-9-1", CREASE_ACT_RELU, CREASE_LOSS_AUTO); /* AUTO with one output = BCE */
    check_net("3-8-4", CREASE_ACT_TANH, CREASE_LOSS_MSE);
    check_net("4-8-1", CREASE_ACT_SIGMOID, CREASE_LOSS_MSE);
    check_net("2-5-4", CREASE_ACT_LEAKY_RELU, CREASE_LOSS_XENT);
}
END_TEST

/* Fused dense_fwd (when the backend offers it) and the primitive sequence
 * give the same outputs. */
START_TEST(test_fused_matches_primitive)
{
    crease_net *n;
    crease_net_opts o;
    crease_net_opts_default(&o);
    ck_assert_int_eq(crease_net_new(dev, "2-61-93-7", &o, &n), CREASE_OK);
    if (!CREASE_HAS_OP(n->ops, dense_fwd)) {
        printf("SKIP fused dense_fwd on %s: not offered\n", crease_device_name(dev));
        crease_net_free(n);
        return;
    }
    enum { M = 144 };
    float x[M * 2], y1[M * 7], y2[M * 7];
    for (int i = 0; i < M * 2; i++) x[i] = sinf((float)i);
    n->use_fused = 1;
    ck_assert_int_eq(crease_net_predict(n, M, x, y1), 0);
    n->use_fused = 0;
    ck_assert_int_eq(crease_net_predict(n, M, x, y2), 0);
    for (int i = 0; i < M * 7; i++) ck_assert_msg(fabsf(y1[i] - y2[i]) <= 1e-5f * (1 + fabsf(y2[i])), "%d: %g vs %g", i, y1[i], y2[i]);
    crease_net_free(n);
}
END_TEST

CK_MAIN("grad", setup, teardown, 0, test_grad_activations, test_grad_losses,
        test_fused_matches_primitive)
