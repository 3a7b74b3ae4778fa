/* net.h -- the network object, shared by net.c, train.c and model_io.c. */
#ifndef CREASE_NET_H
#define CREASE_NET_H

#include "internal.h"

#define CREASE_MAX_LAYERS 64
#define CREASE_MAX_WIDTH 65536

struct crease_net {
    crease_device *dev;
    const struct crease_ops *ops;
    crease_ctx *ctx;
    char spec[CREASE_MAX_LAYERS * 8];
    int nlayers;                        /* dense layers */
    int width[CREASE_MAX_LAYERS + 1];   /* width[0] inputs ... width[nlayers] outputs */
    int act;
    float alpha;
    crease_loss loss;                   /* resolved, never AUTO */
    size_t nparams;
    int use_fused;                      /* use ops->dense_fwd when offered */

    crease_buf *w[CREASE_MAX_LAYERS];   /* out x in */
    crease_buf *b[CREASE_MAX_LAYERS];   /* out */

    /* Workspace for batches of up to ws_batch rows (grown outside steps). */
    int ws_batch;
    crease_buf *x;                      /* ws_batch x width[0] */
    crease_buf *y;                      /* labels as floats, ws_batch */
    crease_buf *t;                      /* MSE only: one-hot targets, ws_batch x outputs */
    crease_buf *a[CREASE_MAX_LAYERS];   /* layer outputs, ws_batch x width[l+1] */
    crease_buf *g[2];                   /* ping-pong gradients, ws_batch x max width */
    crease_buf *loss_rows;              /* ws_batch x outputs */
    crease_buf *gw[CREASE_MAX_LAYERS];  /* weight gradients */
    crease_buf *gb[CREASE_MAX_LAYERS];  /* bias gradients */
    crease_buf *loss_sum;               /* [0]: sum of the losses since the last reset */
    crease_buf *conf;                   /* K x K confusion counts since the last reset */
    float *metrics_host;                /* 1 + K x K: loss_sum and conf read back to the
                                           host; allocated with the net, so a progress
                                           report inside an epoch allocates nothing */
};

/* Classes K of the confusion matrix for this net's output. */
static inline int crease__net_classes(const struct crease_net *n)
{
    return n->width[n->nlayers] == 1 ? 2 : n->width[n->nlayers];
}


/* Make the workspace hold batches of `batch` rows (allocates if needed). */
int crease__net_workspace(struct crease_net *n, int batch);
/* Forward pass of m rows already in n->x; logits end in n->a[nlayers-1]. */
int crease__net_forward(struct crease_net *n, int m);
/* Loss of the m rows in n->a[last] against n->y (n->t for MSE): per-row
 * losses into n->loss_rows, their sum into n->loss_sum and the confusion
 * counts into n->conf, and (if grad) d(mean loss)/d(logits) into n->g[0]. */
int crease__net_loss(struct crease_net *n, int m, int grad);
/* Backward pass from n->g[0]; weight/bias gradients into n->gw, n->gb. */
int crease__net_backward(struct crease_net *n, int m);
/* Zero the metric accumulators; read them back into *m. */
int crease__net_metrics_reset(struct crease_net *n);
int crease__net_metrics_read(struct crease_net *n, crease_metrics *m);
/* Host-side one-hot rows for MSE targets. */
void crease__net_onehot(const struct crease_net *n, const int *labels, size_t rows, float *out);
/* The data set has the net's input width and no more classes than it has. */
int crease__net_check_data(const struct crease_net *n, const crease_dataset *d);

#endif
