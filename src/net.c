/* net.c -- dense networks written once against the backend ops table:
 * specs, seeded host-side initialisation, forward, loss, backward, metrics,
 * evaluation and prediction. */
#include "config.h"
#include "net.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void crease_net_opts_default(crease_net_opts *o)
{
    memset(o, 0, sizeof *o);
    o->act = CREASE_ACT_RELU;
    o->leaky_alpha = 0.01f;
    o->loss = CREASE_LOSS_AUTO;
    o->init = CREASE_INIT_AUTO;
    o->seed = 1;
}

static const char *const act_names[] = {"identity", "relu", "leaky_relu", "tanh", "sigmoid"};

const char *crease_act_name(int act)
{
    return act >= 0 && act <= CREASE_ACT_SIGMOID ? act_names[act] : "unknown";
}

crease_status crease_act_parse(const char *s, int *out)
{
    if (!s || !out) return crease__error(CREASE_EINVAL, "crease_act_parse: NULL argument");
    for (int i = 0; i <= CREASE_ACT_SIGMOID; i++)
        if (!strcasecmp(s, act_names[i])) {
            *out = i;
            return CREASE_OK;
        }
    if (!strcasecmp(s, "leaky") || !strcasecmp(s, "leaky-relu")) {
        *out = CREASE_ACT_LEAKY_RELU;
        return CREASE_OK;
    }
    return crease__error(CREASE_EINVAL,
                         "unknown activation '%s' (expected relu, leaky_relu, tanh, sigmoid or identity)", s);
}

/* "2-32-32-2" -> widths.  Every width a decimal integer in 1..65536. */
static int parse_spec(const char *spec, int *width, int *nlayers)
{
    if (!spec || !*spec)
        return crease__error(CREASE_EINVAL, "empty model spec: expected widths like 2-32-32-2");
    int n = 0;
    const char *p = spec;
    for (;;) {
        const char *start = p;
        while (isdigit((unsigned char)*p)) p++;
        if (p == start) {
            const char *end = p;
            while (*end && *end != '-') end++;
            return crease__error(CREASE_EINVAL,
                                 "model spec '%s': '%.*s' is not a width; expected positive integers "
                                 "joined by '-', like 2-32-32-2",
                                 spec, (int)(end - start), start);
        }
        if (n > CREASE_MAX_LAYERS)
            return crease__error(CREASE_EINVAL, "model spec '%s': more than %d layers", spec,
                                 CREASE_MAX_LAYERS);
        errno = 0;
        long v = strtol(start, NULL, 10);
        if (v <= 0 || v > CREASE_MAX_WIDTH || errno)
            return crease__error(CREASE_EINVAL,
                                 "model spec '%s': width %d is %.*s; every width must be 1..%d", spec,
                                 n + 1, (int)(p - start), start, CREASE_MAX_WIDTH);
        width[n++] = (int)v;
        if (*p == '\0') break;
        if (*p != '-')
            return crease__error(CREASE_EINVAL,
                                 "model spec '%s': unexpected '%c'; expected positive integers joined by '-'",
                                 spec, *p);
        p++;
    }
    if (n < 2)
        return crease__error(CREASE_EINVAL,
                             "model spec '%s': needs at least an input and an output width, like 2-32-2",
                             spec);
    *nlayers = n - 1;
    return CREASE_OK;
}

static void free_workspace(struct crease_net *n)
{
    const struct crease_ops *o = n->ops;
    o->buf_free(n->ctx, n->x);
    o->buf_free(n->ctx, n->y);
    o->buf_free(n->ctx, n->t);
    for (int l = 0; l < n->nlayers; l++) {
        o->buf_free(n->ctx, n->a[l]);
        n->a[l] = NULL;
    }
    o->buf_free(n->ctx, n->g[0]);
    o->buf_free(n->ctx, n->g[1]);
    o->buf_free(n->ctx, n->loss_rows);
    n->x = n->y = n->t = n->g[0] = n->g[1] = n->loss_rows = NULL;
    n->ws_batch = 0;
}

void crease_net_free(crease_net *n)
{
    if (!n) return;
    free_workspace(n);
    for (int l = 0; l < n->nlayers; l++) {
        n->ops->buf_free(n->ctx, n->w[l]);
        n->ops->buf_free(n->ctx, n->b[l]);
        n->ops->buf_free(n->ctx, n->gw[l]);
        n->ops->buf_free(n->ctx, n->gb[l]);
    }
    n->ops->buf_free(n->ctx, n->loss_sum);
    n->ops->buf_free(n->ctx, n->conf);
    free(n->metrics_host);
    free(n);
}

static int alloc_floats(struct crease_net *n, size_t count, crease_buf **out)
{
    return n->ops->buf_alloc(n->ctx, count * sizeof(float), out);
}

int crease__net_workspace(struct crease_net *n, int batch)
{
    if (batch <= n->ws_batch) return CREASE_OK;
    free_workspace(n);
    int maxw = 0;
    for (int l = 0; l <= n->nlayers; l++)
        if (n->width[l] > maxw) maxw = n->width[l];
    size_t B = (size_t)batch;
    int out = n->width[n->nlayers];
    int st = alloc_floats(n, B * (size_t)n->width[0], &n->x);
    if (!st) st = alloc_floats(n, B, &n->y);
    if (!st && n->loss == CREASE_LOSS_MSE) st = alloc_floats(n, B * (size_t)out, &n->t);
    for (int l = 0; l < n->nlayers && !st; l++) st = alloc_floats(n, B * (size_t)n->width[l + 1], &n->a[l]);
    if (!st) st = alloc_floats(n, B * (size_t)maxw, &n->g[0]);
    if (!st) st = alloc_floats(n, B * (size_t)maxw, &n->g[1]);
    if (!st) st = alloc_floats(n, B * (size_t)out, &n->loss_rows);
    if (st) {
        free_workspace(n);
        return st;
    }
    n->ws_batch = batch;
    return CREASE_OK;
}

/* Mean and deviation of the initial weights: He for ReLU-like activations
 * (keeps the activation variance through depth), Glorot otherwise. */
static double init_std(crease_init init, int act, int fan_in, int fan_out)
{
    if (init == CREASE_INIT_AUTO)
        init = (act == CREASE_ACT_RELU || act == CREASE_ACT_LEAKY_RELU) ? CREASE_INIT_HE
                                                                         : CREASE_INIT_GLOROT;
    if (init == CREASE_INIT_HE) return sqrt(2.0 / fan_in);
    return sqrt(2.0 / (fan_in + fan_out));
}

crease_status crease_net_new(crease_device *dev, const char *spec, const crease_net_opts *opts,
                             crease_net **out)
{
    if (!out) return crease__error(CREASE_EINVAL, "crease_net_new: out is NULL");
    *out = NULL;
    if (!dev) return crease__error(CREASE_EINVAL, "crease_net_new: device is NULL");
    crease_net_opts o;
    crease_net_opts_default(&o);
    if (opts) o = *opts;
    if (o.act < CREASE_ACT_IDENTITY || o.act > CREASE_ACT_SIGMOID)
        return crease__error(CREASE_EINVAL, "unknown activation id %d", o.act);
    if (o.act == CREASE_ACT_LEAKY_RELU && !(o.leaky_alpha >= 0.0f && o.leaky_alpha < 1.0f))
        return crease__error(CREASE_EINVAL, "leaky ReLU slope %g: must be in [0, 1)", (double)o.leaky_alpha);

    struct crease_net *n = calloc(1, sizeof *n);
    if (!n) return crease__error(CREASE_ENOMEM, "out of memory");
    int st = parse_spec(spec, n->width, &n->nlayers);
    if (st) {
        free(n);
        return st;
    }
    n->dev = dev;
    n->ops = dev->ops;
    n->ctx = dev->ctx;
    n->act = o.act;
    n->alpha = o.act == CREASE_ACT_LEAKY_RELU ? o.leaky_alpha : 0.0f;
    int outw = n->width[n->nlayers];
    n->loss = o.loss == CREASE_LOSS_AUTO ? (outw == 1 ? CREASE_LOSS_BCE : CREASE_LOSS_XENT) : o.loss;
    if (n->loss == CREASE_LOSS_BCE && outw != 1) {
        free(n);
        return crease__error(CREASE_EINVAL, "binary cross-entropy needs one output, the spec '%s' has %d",
                             spec, outw);
    }
    if (n->loss == CREASE_LOSS_XENT && outw < 2) {
        free(n);
        return crease__error(CREASE_EINVAL, "softmax cross-entropy needs at least 2 outputs");
    }
    const char *nf = getenv("CREASE_NO_FUSED");
    n->use_fused = CREASE_HAS_OP(n->ops, dense_fwd) && !(nf && *nf && strcmp(nf, "0"));

    /* Canonical spec text. */
    size_t used = 0;
    for (int l = 0; l <= n->nlayers; l++)
        used += (size_t)snprintf(n->spec + used, sizeof n->spec - used, "%s%d", l ? "-" : "", n->width[l]);

    /* Host-side initialisation from the seeded RNG, layer by layer, so every
     * device starts from the same bits. Biases follow PyTorch's Linear:
     * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which spreads the first folds
     * over the input square instead of through the origin. */
    crease_rng rng;
    crease__rng_seed(&rng, o.seed);
    int K = crease__net_classes(n);
    n->metrics_host = malloc((1 + (size_t)K * (size_t)K) * sizeof(float));
    if (!n->metrics_host) st = crease__error(CREASE_ENOMEM, "out of memory for the metrics of %d classes", K);
    if (!st) st = alloc_floats(n, 1, &n->loss_sum);
    if (!st) st = alloc_floats(n, (size_t)K * (size_t)K, &n->conf);
    for (int l = 0; l < n->nlayers && !st; l++) {
        int in = n->width[l], ow = n->width[l + 1];
        size_t nw = (size_t)in * (size_t)ow;
        float *hw = malloc((nw + (size_t)ow) * sizeof(float));
        if (!hw) {
            st = crease__error(CREASE_ENOMEM, "out of memory");
            break;
        }
        double sd = init_std(o.init, o.act, in, ow);
        for (size_t i = 0; i < nw; i++) hw[i] = (float)(sd * crease__rng_normal(&rng));
        double bound = 1.0 / sqrt((double)in);
        for (int i = 0; i < ow; i++) hw[nw + (size_t)i] = (float)(bound * (2.0 * crease__rng_uniform(&rng) - 1.0));
        st = alloc_floats(n, nw, &n->w[l]);
        if (!st) st = alloc_floats(n, (size_t)ow, &n->b[l]);
        if (!st) st = alloc_floats(n, nw, &n->gw[l]);
        if (!st) st = alloc_floats(n, (size_t)ow, &n->gb[l]);
        if (!st) st = n->ops->buf_write(n->ctx, n->w[l], 0, nw * sizeof(float), hw);
        if (!st) st = n->ops->buf_write(n->ctx, n->b[l], 0, (size_t)ow * sizeof(float), hw + nw);
        free(hw);
        n->nparams += nw + (size_t)ow;
    }
    if (st) {
        crease_net_free(n);
        return st;
    }
    *out = n;
    return CREASE_OK;
}

const char *crease_net_spec(const crease_net *n) { return n ? n->spec : ""; }
int crease_net_inputs(const crease_net *n) { return n ? n->width[0] : 0; }
int crease_net_outputs(const crease_net *n) { return n ? n->width[n->nlayers] : 0; }
int crease_net_layers(const crease_net *n) { return n ? n->nlayers : 0; }
size_t crease_net_param_count(const crease_net *n) { return n ? n->nparams : 0; }
int crease_net_act(const crease_net *n) { return n ? n->act : 0; }
float crease_net_leaky_alpha(const crease_net *n) { return n ? n->alpha : 0.0f; }
crease_loss crease_net_loss(const crease_net *n) { return n ? n->loss : CREASE_LOSS_AUTO; }
crease_device *crease_net_device(const crease_net *n) { return n ? n->dev : NULL; }

crease_status crease_net_layer_shape(const crease_net *n, int l, int *in, int *out)
{
    if (!n || l < 0 || l >= n->nlayers)
        return crease__error(CREASE_EINVAL, "no layer %d (the net has %d)", l, n ? n->nlayers : 0);
    if (in) *in = n->width[l];
    if (out) *out = n->width[l + 1];
    return CREASE_OK;
}

crease_status crease_net_get_layer(const crease_net *n, int l, float *w, float *b)
{
    int st = crease_net_layer_shape(n, l, NULL, NULL);
    if (st) return st;
    size_t nw = (size_t)n->width[l] * (size_t)n->width[l + 1];
    if (w) st = n->ops->buf_read(n->ctx, n->w[l], 0, nw * sizeof(float), w);
    if (!st && b) st = n->ops->buf_read(n->ctx, n->b[l], 0, (size_t)n->width[l + 1] * sizeof(float), b);
    return st;
}

crease_status crease_net_set_layer(crease_net *n, int l, const float *w, const float *b)
{
    int st = crease_net_layer_shape(n, l, NULL, NULL);
    if (st) return st;
    size_t nw = (size_t)n->width[l] * (size_t)n->width[l + 1];
    if (w) st = n->ops->buf_write(n->ctx, n->w[l], 0, nw * sizeof(float), w);
    if (!st && b) st = n->ops->buf_write(n->ctx, n->b[l], 0, (size_t)n->width[l + 1] * sizeof(float), b);
    return st;
}

/* ------------------------------------------------------------ passes */

int crease__net_forward(struct crease_net *n, int m)
{
    const struct crease_ops *o = n->ops;
    for (int l = 0; l < n->nlayers; l++) {
        const crease_buf *in = l ? n->a[l - 1] : n->x;
        int k = n->width[l], ow = n->width[l + 1];
        int act = l + 1 < n->nlayers ? n->act : CREASE_ACT_IDENTITY;
        int st;
        if (n->use_fused) {
            st = o->dense_fwd(n->ctx, act, n->alpha, m, ow, k, in, n->w[l], n->b[l], n->a[l]);
        } else {
            st = o->gemm(n->ctx, 0, 1, m, ow, k, 1.0f, in, k, n->w[l], k, 0.0f, n->a[l], ow);
            if (!st) st = o->bias_add(n->ctx, m, ow, n->a[l], n->b[l]);
            if (!st && act != CREASE_ACT_IDENTITY)
                st = o->act_fwd(n->ctx, act, n->alpha, (size_t)m * (size_t)ow, n->a[l], n->a[l]);
        }
        if (st) return st;
    }
    return CREASE_OK;
}

int crease__net_loss(struct crease_net *n, int m, int grad)
{
    const struct crease_ops *o = n->ops;
    const crease_buf *z = n->a[n->nlayers - 1];
    int outw = n->width[n->nlayers];
    float scale = 1.0f / (float)m;
    crease_buf *g = grad ? n->g[0] : NULL;
    size_t nloss;
    int st;
    switch (n->loss) {
    case CREASE_LOSS_BCE:
        nloss = (size_t)m;
        st = o->bce_logits(n->ctx, nloss, z, n->y, scale, g, n->loss_rows);
        break;
    case CREASE_LOSS_MSE:
        nloss = (size_t)m * (size_t)outw;
        st = o->mse(n->ctx, nloss, z, n->t, scale, g, n->loss_rows);
        break;
    default:
        nloss = (size_t)m;
        st = o->softmax_xent(n->ctx, m, outw, z, n->y, scale, g, n->loss_rows);
        break;
    }
    if (!st) st = o->sum(n->ctx, nloss, n->loss_rows, 1.0f, n->loss_sum, 0);
    if (!st) st = o->confusion(n->ctx, m, outw, z, n->y, n->conf);
    return st;
}

int crease__net_backward(struct crease_net *n, int m)
{
    const struct crease_ops *o = n->ops;
    int cur = 0; /* n->g[cur] holds d(loss)/d(output of layer l) */
    for (int l = n->nlayers - 1; l >= 0; l--) {
        int k = n->width[l], ow = n->width[l + 1];
        const crease_buf *in = l ? n->a[l - 1] : n->x;
        int st = CREASE_OK;
        if (l + 1 < n->nlayers && n->act != CREASE_ACT_IDENTITY)
            st = o->act_bwd(n->ctx, n->act, n->alpha, (size_t)m * (size_t)ow, n->a[l], n->g[cur], n->g[cur]);
        /* dW = g^T x (out x in), db = column sums of g, dx = g W. */
        if (!st) st = o->gemm(n->ctx, 1, 0, ow, k, m, 1.0f, n->g[cur], ow, in, k, 0.0f, n->gw[l], k);
        if (!st) st = o->reduce_rows(n->ctx, m, ow, n->g[cur], 0.0f, n->gb[l]);
        if (!st && l > 0)
            st = o->gemm(n->ctx, 0, 0, m, k, ow, 1.0f, n->g[cur], ow, n->w[l], k, 0.0f, n->g[1 - cur], k);
        if (st) return st;
        cur = 1 - cur;
    }
    return CREASE_OK;
}

int crease__net_metrics_reset(struct crease_net *n)
{
    int K = crease__net_classes(n);
    int st = n->ops->fill(n->ctx, n->loss_sum, 1, 0.0f);
    return st ? st : n->ops->fill(n->ctx, n->conf, (size_t)K * (size_t)K, 0.0f);
}

int crease__net_metrics_read(struct crease_net *n, crease_metrics *m)
{
    int K = crease__net_classes(n);
    float *h = n->metrics_host;
    int st = n->ops->buf_read(n->ctx, n->loss_sum, 0, sizeof(float), h);
    if (!st) st = n->ops->buf_read(n->ctx, n->conf, 0, (size_t)K * (size_t)K * sizeof(float), h + 1);
    if (!st) {
        double total = 0, correct = 0, recall = 0;
        int present = 0;
        for (int c = 0; c < K; c++) {
            double row = 0;
            for (int p = 0; p < K; p++) row += h[1 + c * K + p];
            total += row;
            correct += h[1 + c * K + c];
            if (row > 0) {
                recall += h[1 + c * K + c] / row;
                present++;
            }
        }
        m->count = (size_t)total;
        m->loss = total > 0 ? h[0] / total : 0.0;
        m->accuracy = total > 0 ? correct / total : 0.0;
        m->balanced_accuracy = present ? recall / present : 0.0;
    }
    return st;
}

void crease__net_onehot(const struct crease_net *n, const int *labels, size_t rows, float *out)
{
    int cols = n->width[n->nlayers];
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) out[r * (size_t)cols + (size_t)j] = labels[r] == j ? 1.0f : 0.0f;
}

/* ------------------------------------------------------- eval, predict */

#define EVAL_CHUNK 8192

crease_status crease_net_predict(crease_net *n, size_t count, const float *x, float *out)
{
    if (!n || (count && (!x || !out))) return crease__error(CREASE_EINVAL, "crease_net_predict: NULL argument");
    int st = crease__net_workspace(n, count < EVAL_CHUNK ? (int)(count ? count : 1) : EVAL_CHUNK);
    int in = n->width[0], ow = n->width[n->nlayers];
    for (size_t s = 0; s < count && !st; s += EVAL_CHUNK) {
        int m = (int)(count - s < EVAL_CHUNK ? count - s : EVAL_CHUNK);
        st = n->ops->buf_write(n->ctx, n->x, 0, (size_t)m * (size_t)in * sizeof(float), x + s * (size_t)in);
        if (!st) st = crease__net_forward(n, m);
        if (!st)
            st = n->ops->buf_read(n->ctx, n->a[n->nlayers - 1], 0, (size_t)m * (size_t)ow * sizeof(float),
                                  out + s * (size_t)ow);
    }
    return st;
}

int crease__net_check_data(const struct crease_net *n, const crease_dataset *d)
{
    if (d->dim != n->width[0])
        return crease__error(CREASE_EINVAL, "the data has %d input columns but the model %s takes %d", d->dim,
                             n->spec, n->width[0]);
    int K = crease__net_classes(n);
    if (d->classes > K)
        return crease__error(CREASE_EINVAL, "the data has %d classes but the model %s has %d output%s (%d classes)",
                             d->classes, n->spec, n->width[n->nlayers], n->width[n->nlayers] == 1 ? "" : "s", K);
    return CREASE_OK;
}

crease_status crease_net_eval(crease_net *n, const crease_dataset *d, crease_metrics *m)
{
    if (!n || !d || !m) return crease__error(CREASE_EINVAL, "crease_net_eval: NULL argument");
    int st = crease__net_check_data(n, d);
    if (st) return st;
    size_t N = d->n;
    int chunk = N < EVAL_CHUNK ? (int)(N ? N : 1) : EVAL_CHUNK;
    st = crease__net_workspace(n, chunk);
    int in = n->width[0], outw = n->width[n->nlayers];
    int mse = n->loss == CREASE_LOSS_MSE;
    float *x = malloc((size_t)chunk * (size_t)in * sizeof(float));
    float *lab = malloc((size_t)chunk * sizeof(float));
    int *ilab = malloc((size_t)chunk * sizeof(int));
    float *t = mse ? malloc((size_t)chunk * (size_t)outw * sizeof(float)) : NULL;
    if (!x || !lab || !ilab || (mse && !t)) st = crease__error(CREASE_ENOMEM, "out of memory");
    if (!st) st = crease__net_metrics_reset(n);
    /* Labelled rows only: unlabelled points (label < 0) are left out. */
    size_t i = 0;
    while (!st && i < N) {
        int rows = 0;
        for (; i < N && rows < chunk; i++) {
            if (d->labels[i] < 0) continue;
            memcpy(x + (size_t)rows * (size_t)in, d->x + i * (size_t)in, (size_t)in * sizeof(float));
            ilab[rows] = d->labels[i];
            lab[rows] = (float)d->labels[i];
            rows++;
        }
        if (!rows) break;
        st = n->ops->buf_write(n->ctx, n->x, 0, (size_t)rows * (size_t)in * sizeof(float), x);
        if (!st) st = n->ops->buf_write(n->ctx, n->y, 0, (size_t)rows * sizeof(float), lab);
        if (!st && mse) {
            crease__net_onehot(n, ilab, (size_t)rows, t);
            st = n->ops->buf_write(n->ctx, n->t, 0, (size_t)rows * (size_t)outw * sizeof(float), t);
        }
        if (!st) st = crease__net_forward(n, rows);
        if (!st) st = crease__net_loss(n, rows, 0);
    }
    if (!st) st = crease__net_metrics_read(n, m);
    free(x);
    free(lab);
    free(ilab);
    free(t);
    return st;
}
