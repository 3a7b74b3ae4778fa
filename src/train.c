/* train.c -- the training loop: optimizers, learning-rate schedules,
 * shuffled minibatches, running metrics and progress reports.
 *
 * Everything a step needs is allocated by crease_trainer_new; a step only
 * issues backend ops (gather, forward, loss, backward, updates), so on a
 * device backend nothing travels to or from the host inside an epoch except
 * the metric read-backs the progress display asks for. */
#include "config.h"
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void crease_train_opts_default(crease_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 10;
    o->batch = 256;
    o->lr = 1e-3f;
    o->optimizer = CREASE_OPT_ADAM;
    o->momentum = 0.9f;
    o->nesterov = 0;
    o->weight_decay = 0.0f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->schedule = CREASE_SCHED_CONSTANT;
    o->step_epochs = 10;
    o->gamma = 0.1f;
    o->lr_min = 0.0f;
    o->seed = 1;
    o->shuffle = 1;
    o->report_interval = 0.25;
}

static const char *const opt_names[] = {"sgd", "adam", "adamw"};
static const char *const sched_names[] = {"constant", "step", "cosine"};

const char *crease_optimizer_name(crease_optimizer o)
{
    return o >= CREASE_OPT_SGD && o <= CREASE_OPT_ADAMW ? opt_names[o] : "unknown";
}

const char *crease_schedule_name(crease_schedule s)
{
    return s >= CREASE_SCHED_CONSTANT && s <= CREASE_SCHED_COSINE ? sched_names[s] : "unknown";
}

crease_status crease_optimizer_parse(const char *s, crease_optimizer *out)
{
    for (int i = 0; s && out && i < 3; i++)
        if (!strcasecmp(s, opt_names[i])) {
            *out = (crease_optimizer)i;
            return CREASE_OK;
        }
    return crease__error(CREASE_EINVAL, "unknown optimizer '%s' (expected sgd, adam or adamw)", s ? s : "");
}

crease_status crease_schedule_parse(const char *s, crease_schedule *out)
{
    for (int i = 0; s && out && i < 3; i++)
        if (!strcasecmp(s, sched_names[i])) {
            *out = (crease_schedule)i;
            return CREASE_OK;
        }
    return crease__error(CREASE_EINVAL, "unknown schedule '%s' (expected constant, step or cosine)", s ? s : "");
}

struct crease_trainer {
    struct crease_net *net;
    const crease_dataset *data;
    crease_train_opts o;
    size_t n;                 /* labelled rows used for training */
    size_t steps;             /* per epoch */
    int epochs_done;
    int stopped;
    uint64_t t;               /* optimizer steps taken */
    crease_rng rng;
    uint32_t *perm;           /* host permutation of the rows */
    crease_buf *x, *y, *tgt;  /* the whole training set on the device */
    crease_buf *idx;          /* this epoch's order on the device */
    crease_buf *m[CREASE_MAX_LAYERS][2], *v[CREASE_MAX_LAYERS][2]; /* optimizer state, [w, b] */
    double start;
};

static int validate_opts(const crease_train_opts *o)
{
    if (o->epochs < 0) return crease__error(CREASE_EINVAL, "epochs %d: must be >= 0", o->epochs);
    if (o->batch < 1 || o->batch > (1 << 24))
        return crease__error(CREASE_EINVAL, "batch size %d: must be 1..16777216", o->batch);
    if (!(o->lr > 0.0f) || !isfinite(o->lr))
        return crease__error(CREASE_EINVAL, "learning rate %g: must be positive", (double)o->lr);
    if (o->optimizer < CREASE_OPT_SGD || o->optimizer > CREASE_OPT_ADAMW)
        return crease__error(CREASE_EINVAL, "unknown optimizer id %d", (int)o->optimizer);
    if (o->schedule < CREASE_SCHED_CONSTANT || o->schedule > CREASE_SCHED_COSINE)
        return crease__error(CREASE_EINVAL, "unknown schedule id %d", (int)o->schedule);
    if (!(o->momentum >= 0.0f && o->momentum < 1.0f))
        return crease__error(CREASE_EINVAL, "momentum %g: must be in [0, 1)", (double)o->momentum);
    if (!(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay))
        return crease__error(CREASE_EINVAL, "weight decay %g: must be >= 0", (double)o->weight_decay);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f))
        return crease__error(CREASE_EINVAL, "Adam betas (%g, %g): must be in [0, 1)", (double)o->beta1,
                             (double)o->beta2);
    if (!(o->eps > 0.0f)) return crease__error(CREASE_EINVAL, "Adam eps %g: must be positive", (double)o->eps);
    if (o->schedule == CREASE_SCHED_STEP && (o->step_epochs < 1 || !(o->gamma > 0.0f)))
        return crease__error(CREASE_EINVAL, "step schedule: step_epochs must be >= 1 and gamma > 0");
    if (o->schedule == CREASE_SCHED_COSINE && !(o->lr_min >= 0.0f && o->lr_min <= o->lr))
        return crease__error(CREASE_EINVAL, "cosine schedule: lr_min %g must be in [0, lr]", (double)o->lr_min);
    if (!(o->report_interval >= 0.0))
        return crease__error(CREASE_EINVAL, "report interval must be >= 0");
    return CREASE_OK;
}

void crease_trainer_free(crease_trainer *tr)
{
    if (!tr) return;
    const struct crease_ops *o = tr->net->ops;
    crease_ctx *c = tr->net->ctx;
    o->buf_free(c, tr->x);
    o->buf_free(c, tr->y);
    o->buf_free(c, tr->tgt);
    o->buf_free(c, tr->idx);
    for (int l = 0; l < tr->net->nlayers; l++)
        for (int k = 0; k < 2; k++) {
            o->buf_free(c, tr->m[l][k]);
            o->buf_free(c, tr->v[l][k]);
        }
    free(tr->perm);
    free(tr);
}

static int alloc_zero(struct crease_net *n, size_t count, crease_buf **out)
{
    int st = n->ops->buf_alloc(n->ctx, count * sizeof(float), out);
    return st ? st : n->ops->fill(n->ctx, *out, count, 0.0f);
}

crease_status crease_trainer_new(crease_net *net, const crease_dataset *data, const crease_train_opts *opts,
                                 crease_trainer **out)
{
    if (!out) return crease__error(CREASE_EINVAL, "crease_trainer_new: out is NULL");
    *out = NULL;
    if (!net || !data) return crease__error(CREASE_EINVAL, "crease_trainer_new: NULL net or data");
    crease_train_opts o;
    crease_train_opts_default(&o);
    if (opts) o = *opts;
    int st = validate_opts(&o);
    if (!st) st = crease__net_check_data(net, data);
    if (st) return st;

    crease_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return crease__error(CREASE_ENOMEM, "out of memory");
    tr->net = net;
    tr->data = data;
    tr->o = o;
    crease__rng_seed(&tr->rng, o.seed);
    for (size_t i = 0; i < data->n; i++) tr->n += data->labels[i] >= 0;
    if (tr->n == 0) {
        free(tr);
        return crease__error(CREASE_EINVAL, "the data set has no labelled points to train on");
    }
    if (tr->n > UINT32_MAX) {
        free(tr);
        return crease__error(CREASE_EINVAL, "data sets of more than 2^32 rows are not supported");
    }
    tr->steps = (tr->n + (size_t)o.batch - 1) / (size_t)o.batch;
    int batch = (size_t)o.batch < tr->n ? o.batch : (int)tr->n;

    /* Upload the labelled rows once; they stay on the device. */
    const struct crease_ops *ops = net->ops;
    int in = net->width[0], outw = net->width[net->nlayers];
    int mse = net->loss == CREASE_LOSS_MSE;
    float *hx = malloc(tr->n * (size_t)in * sizeof(float));
    float *hy = malloc(tr->n * sizeof(float));
    float *ht = mse ? malloc(tr->n * (size_t)outw * sizeof(float)) : NULL;
    tr->perm = malloc(tr->n * sizeof(uint32_t));
    if (!hx || !hy || !tr->perm || (mse && !ht)) st = crease__error(CREASE_ENOMEM, "out of memory for the data set");
    size_t r = 0;
    for (size_t i = 0; !st && i < data->n; i++) {
        if (data->labels[i] < 0) continue;
        memcpy(hx + r * (size_t)in, data->x + i * (size_t)in, (size_t)in * sizeof(float));
        hy[r] = (float)data->labels[i];
        if (mse) crease__net_onehot(net, &data->labels[i], 1, ht + r * (size_t)outw);
        r++;
    }
    if (!st) st = ops->buf_alloc(net->ctx, tr->n * (size_t)in * sizeof(float), &tr->x);
    if (!st) st = ops->buf_write(net->ctx, tr->x, 0, tr->n * (size_t)in * sizeof(float), hx);
    if (!st) st = ops->buf_alloc(net->ctx, tr->n * sizeof(float), &tr->y);
    if (!st) st = ops->buf_write(net->ctx, tr->y, 0, tr->n * sizeof(float), hy);
    if (!st && mse) st = ops->buf_alloc(net->ctx, tr->n * (size_t)outw * sizeof(float), &tr->tgt);
    if (!st && mse) st = ops->buf_write(net->ctx, tr->tgt, 0, tr->n * (size_t)outw * sizeof(float), ht);
    if (!st) st = ops->buf_alloc(net->ctx, tr->n * sizeof(uint32_t), &tr->idx);
    free(hx);
    free(hy);
    free(ht);

    /* Optimizer state: momentum buffers (SGD) or moments (Adam). */
    int need_m = o.optimizer != CREASE_OPT_SGD || o.momentum > 0.0f;
    int need_v = o.optimizer != CREASE_OPT_SGD;
    for (int l = 0; !st && l < net->nlayers; l++) {
        size_t sz[2] = {(size_t)net->width[l] * (size_t)net->width[l + 1], (size_t)net->width[l + 1]};
        for (int k = 0; k < 2 && !st; k++) {
            if (need_m) st = alloc_zero(net, sz[k], &tr->m[l][k]);
            if (!st && need_v) st = alloc_zero(net, sz[k], &tr->v[l][k]);
        }
    }
    if (!st) st = crease__net_workspace(net, batch);
    if (st) {
        crease_trainer_free(tr);
        return st;
    }
    tr->start = crease__now();
    *out = tr;
    return CREASE_OK;
}

static double lr_at(const crease_trainer *tr, int epoch, size_t step)
{
    const crease_train_opts *o = &tr->o;
    switch (o->schedule) {
    case CREASE_SCHED_STEP:
        return o->lr * pow(o->gamma, epoch / o->step_epochs);
    case CREASE_SCHED_COSINE: {
        double total = (double)o->epochs * (double)tr->steps;
        double t = (double)epoch * (double)tr->steps + (double)step;
        double f = total > 0 ? 0.5 * (1.0 + cos(M_PI * t / total)) : 1.0;
        return o->lr_min + (o->lr - o->lr_min) * f;
    }
    default:
        return o->lr;
    }
}

static int update(crease_trainer *tr, double lr)
{
    struct crease_net *n = tr->net;
    const struct crease_ops *o = n->ops;
    const crease_train_opts *p = &tr->o;
    tr->t++;
    float bc1 = (float)(1.0 - pow(p->beta1, (double)tr->t));
    float bc2 = (float)(1.0 - pow(p->beta2, (double)tr->t));
    for (int l = 0; l < n->nlayers; l++) {
        crease_buf *w[2] = {n->w[l], n->b[l]};
        crease_buf *g[2] = {n->gw[l], n->gb[l]};
        size_t sz[2] = {(size_t)n->width[l] * (size_t)n->width[l + 1], (size_t)n->width[l + 1]};
        for (int k = 0; k < 2; k++) {
            int st;
            if (p->optimizer == CREASE_OPT_SGD)
                st = o->sgd_update(n->ctx, sz[k], w[k], g[k], tr->m[l][k], (float)lr, p->momentum,
                                   p->weight_decay, p->nesterov);
            else
                st = o->adam_update(n->ctx, sz[k], w[k], g[k], tr->m[l][k], tr->v[l][k], (float)lr, p->beta1,
                                    p->beta2, p->eps, p->weight_decay, p->optimizer == CREASE_OPT_ADAMW, bc1, bc2);
            if (st) return st;
        }
    }
    return CREASE_OK;
}

static int report(crease_trainer *tr, int epoch, size_t step, size_t samples, double lr, double epoch_start,
                  int done, crease_metrics *out)
{
    crease_progress p;
    memset(&p, 0, sizeof p);
    int st = crease__net_metrics_read(tr->net, &p.running);
    if (st) return st;
    if (out) *out = p.running;
    if (!tr->o.progress) return CREASE_OK;
    double now = crease__now();
    p.epoch = epoch + 1;
    p.epochs = tr->o.epochs;
    p.step = step;
    p.steps = tr->steps;
    p.samples = samples;
    p.lr = lr;
    p.elapsed = now - tr->start;
    p.samples_per_s = now > epoch_start ? (double)samples / (now - epoch_start) : 0.0;
    p.epoch_done = done;
    if (tr->o.progress(&p, tr->o.user)) tr->stopped = 1;
    return CREASE_OK;
}

crease_status crease_trainer_epoch(crease_trainer *tr, crease_metrics *m)
{
    if (!tr) return crease__error(CREASE_EINVAL, "crease_trainer_epoch: trainer is NULL");
    struct crease_net *n = tr->net;
    const struct crease_ops *o = n->ops;
    int epoch = tr->epochs_done;
    int in = n->width[0], outw = n->width[n->nlayers];
    int mse = n->loss == CREASE_LOSS_MSE;

    /* This epoch's order: a Fisher-Yates shuffle from the seeded RNG,
     * uploaded once per epoch. */
    for (size_t i = 0; i < tr->n; i++) tr->perm[i] = (uint32_t)i;
    if (tr->o.shuffle)
        for (size_t i = tr->n - 1; i > 0; i--) {
            size_t j = (size_t)crease__rng_below(&tr->rng, i + 1);
            uint32_t t = tr->perm[i];
            tr->perm[i] = tr->perm[j];
            tr->perm[j] = t;
        }
    int st = o->buf_write(n->ctx, tr->idx, 0, tr->n * sizeof(uint32_t), tr->perm);
    if (!st) st = crease__net_metrics_reset(n);
    if (st) return st;

    double epoch_start = crease__now(), last = epoch_start;
    size_t samples = 0;
    double lr = tr->o.lr;
    for (size_t s = 0; s < tr->steps; s++) {
        size_t off = s * (size_t)tr->o.batch;
        int rows = (int)(tr->n - off < (size_t)tr->o.batch ? tr->n - off : (size_t)tr->o.batch);
        lr = lr_at(tr, epoch, s);
        st = o->gather_rows(n->ctx, rows, in, tr->x, tr->idx, off, n->x);
        if (!st) st = o->gather_rows(n->ctx, rows, 1, tr->y, tr->idx, off, n->y);
        if (!st && mse) st = o->gather_rows(n->ctx, rows, outw, tr->tgt, tr->idx, off, n->t);
        if (!st) st = crease__net_forward(n, rows);
        if (!st) st = crease__net_loss(n, rows, 1);
        if (!st) st = crease__net_backward(n, rows);
        if (!st) st = update(tr, lr);
        if (st) return st;
        samples += (size_t)rows;
        if (tr->o.progress && s + 1 < tr->steps) {
            double now = crease__now();
            if (now - last >= tr->o.report_interval) {
                last = now;
                st = report(tr, epoch, s + 1, samples, lr, epoch_start, 0, NULL);
                if (st) return st;
                if (tr->stopped) return CREASE_OK;
            }
        }
    }
    tr->epochs_done++;
    return report(tr, epoch, tr->steps, samples, lr, epoch_start, 1, m);
}

int crease_trainer_epochs_done(const crease_trainer *tr)
{
    return tr ? tr->epochs_done : 0;
}

int crease_trainer_stopped(const crease_trainer *tr)
{
    return tr ? tr->stopped : 0;
}

crease_status crease_net_train(crease_net *net, const crease_dataset *data, const crease_train_opts *opts,
                               crease_metrics *last_epoch)
{
    crease_trainer *tr;
    int st = crease_trainer_new(net, data, opts, &tr);
    if (st) return st;
    crease_metrics m;
    memset(&m, 0, sizeof m);
    for (int e = 0; e < tr->o.epochs && !st && !tr->stopped; e++) st = crease_trainer_epoch(tr, &m);
    if (!st && last_epoch) *last_epoch = m;
    crease_trainer_free(tr);
    return st;
}
