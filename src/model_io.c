/* model_io.c -- networks to and from safetensors files, in PyTorch's layout
 * for nn.Sequential(Linear, ReLU, Linear, ...): "model.<2l>.weight" [out, in]
 * and "model.<2l>.bias" [out].  crease's own settings travel in the
 * metadata ("crease.spec", "crease.act", ...). */
#include "config.h"
#include "net.h"
#include "safetensors.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *loss_name(crease_loss l)
{
    switch (l) {
    case CREASE_LOSS_BCE: return "bce";
    case CREASE_LOSS_MSE: return "mse";
    default: return "xent";
    }
}

crease_status crease_net_save(const crease_net *n, const char *path)
{
    if (!n || !path || !*path) return crease__error(CREASE_EINVAL, "crease_net_save: NULL net or empty path");
    crease_st_tensor t[2 * CREASE_MAX_LAYERS];
    char names[2 * CREASE_MAX_LAYERS][32];
    float *host = malloc(n->nparams * sizeof(float));
    if (!host) return crease__error(CREASE_ENOMEM, "out of memory");
    float *p = host;
    int st = CREASE_OK;
    for (int l = 0; l < n->nlayers && !st; l++) {
        int in = n->width[l], ow = n->width[l + 1];
        float *w = p, *b = p + (size_t)in * (size_t)ow;
        p = b + ow;
        st = crease_net_get_layer(n, l, w, b);
        snprintf(names[2 * l], sizeof names[0], "model.%d.weight", 2 * l);
        snprintf(names[2 * l + 1], sizeof names[0], "model.%d.bias", 2 * l);
        t[2 * l] = (crease_st_tensor){.name = names[2 * l], .ndim = 2, .shape = {ow, in},
                                      .numel = (size_t)in * (size_t)ow, .data = w};
        t[2 * l + 1] = (crease_st_tensor){.name = names[2 * l + 1], .ndim = 1, .shape = {ow},
                                          .numel = (size_t)ow, .data = b};
    }
    char alpha[32];
    snprintf(alpha, sizeof alpha, "%.9g", (double)n->alpha);
    const char *meta[] = {"format", "pt",
                          "crease.version", PACKAGE_VERSION,
                          "crease.spec", n->spec,
                          "crease.act", crease_act_name(n->act),
                          "crease.leaky_alpha", alpha,
                          "crease.loss", loss_name(n->loss)};
    if (!st) st = crease__st_write(path, t, 2 * n->nlayers, meta, (int)(sizeof meta / sizeof *meta / 2));
    free(host);
    return st;
}

/* "model.4.weight" -> prefix "model", index 4.  Returns 0 if name is not of
 * the form [PREFIX.]INDEX.(weight|bias). */
static int split_name(const char *name, const char *suffix, char *prefix, size_t plen, long *index)
{
    size_t len = strlen(name), sl = strlen(suffix);
    if (len <= sl + 1 || strcmp(name + len - sl, suffix)) return 0;
    size_t end = len - sl - 1; /* position of the '.' before the suffix */
    if (name[end] != '.') return 0;
    size_t d = end;
    while (d > 0 && isdigit((unsigned char)name[d - 1])) d--;
    if (d == end || end - d > 6) return 0;
    if (d > 0 && name[d - 1] != '.') return 0;
    size_t pl = d > 0 ? d - 1 : 0;
    if (pl >= plen) return 0;
    memcpy(prefix, name, pl);
    prefix[pl] = '\0';
    *index = strtol(name + d, NULL, 10);
    return 1;
}

struct layer_ref {
    long index;
    const crease_st_tensor *w, *b;
};

static int cmp_layer(const void *a, const void *b)
{
    long x = ((const struct layer_ref *)a)->index, y = ((const struct layer_ref *)b)->index;
    return (x > y) - (x < y);
}

crease_status crease_net_load(crease_device *dev, const char *path, const crease_net_opts *opts, crease_net **out)
{
    if (!out) return crease__error(CREASE_EINVAL, "crease_net_load: out is NULL");
    *out = NULL;
    if (!dev || !path) return crease__error(CREASE_EINVAL, "crease_net_load: NULL device or path");
    crease_st_file *f;
    int st = crease__st_read(path, &f);
    if (st) return st;

    struct layer_ref layers[CREASE_MAX_LAYERS];
    int nl = 0;
    char prefix[128] = "", pfx[128];
    int count = crease__st_count(f);
    /* Every tensor must be a weight or a bias of the layer chain. */
    for (int i = 0; i < count && !st; i++) {
        const crease_st_tensor *t = crease__st_get(f, i);
        long idx;
        int is_w = split_name(t->name, "weight", pfx, sizeof pfx, &idx);
        if (!is_w && !split_name(t->name, "bias", pfx, sizeof pfx, &idx)) {
            st = crease__error(CREASE_EFORMAT,
                               "%s: tensor '%s' is not part of a dense network (expected names like "
                               "model.0.weight, model.0.bias)", path, t->name);
            break;
        }
        if (nl == 0 && i == 0) snprintf(prefix, sizeof prefix, "%s", pfx);
        if (strcmp(prefix, pfx)) {
            st = crease__error(CREASE_EFORMAT, "%s: tensor '%s' does not share the prefix '%s' of the others", path,
                               t->name, prefix);
            break;
        }
        int j = 0;
        while (j < nl && layers[j].index != idx) j++;
        if (j == nl) {
            if (nl == CREASE_MAX_LAYERS) {
                st = crease__error(CREASE_EFORMAT, "%s: more than %d layers", path, CREASE_MAX_LAYERS);
                break;
            }
            layers[nl++] = (struct layer_ref){idx, NULL, NULL};
        }
        if (is_w) layers[j].w = t;
        else layers[j].b = t;
    }
    if (!st && nl == 0) st = crease__error(CREASE_EFORMAT, "%s: holds no layers", path);
    qsort(layers, (size_t)nl, sizeof *layers, cmp_layer);

    /* Check the chain: weight [out, in], bias [out], in == previous out. */
    int width[CREASE_MAX_LAYERS + 1];
    for (int l = 0; l < nl && !st; l++) {
        const crease_st_tensor *w = layers[l].w, *b = layers[l].b;
        if (!w || !b) {
            st = crease__error(CREASE_EFORMAT, "%s: layer %s%s%ld has a %s but no %s", path, prefix,
                               *prefix ? "." : "", layers[l].index, w ? "weight" : "bias", w ? "bias" : "weight");
            break;
        }
        if (w->ndim != 2 || b->ndim != 1 || b->shape[0] != w->shape[0] || w->shape[0] < 1 || w->shape[1] < 1 ||
            w->shape[0] > CREASE_MAX_WIDTH || w->shape[1] > CREASE_MAX_WIDTH) {
            st = crease__error(CREASE_EFORMAT,
                               "%s: %s / %s: expected a weight [out, in] and a bias [out] of the same out", path,
                               w->name, b->name);
            break;
        }
        if (l == 0) width[0] = (int)w->shape[1];
        else if (w->shape[1] != width[l]) {
            st = crease__error(CREASE_EFORMAT, "%s: %s takes %lld inputs but the layer before gives %d", path,
                               w->name, (long long)w->shape[1], width[l]);
            break;
        }
        width[l + 1] = (int)w->shape[0];
    }

    char spec[CREASE_MAX_LAYERS * 8] = "";
    size_t used = 0;
    for (int l = 0; l <= nl && !st; l++)
        used += (size_t)snprintf(spec + used, sizeof spec - used, "%s%d", l ? "-" : "", width[l]);
    const char *fspec = st ? NULL : crease__st_meta(f, "crease.spec");
    if (fspec && strcmp(fspec, spec))
        st = crease__error(CREASE_EFORMAT, "%s: metadata says the network is %s but its tensors make %s", path,
                           fspec, spec);

    /* What the file says wins; opts fill in what it does not say. */
    crease_net_opts o;
    crease_net_opts_default(&o);
    if (opts) o = *opts;
    const char *act = st ? NULL : crease__st_meta(f, "crease.act");
    if (act && crease_act_parse(act, &o.act))
        st = crease__error(CREASE_EFORMAT, "%s: unknown activation '%s' in the metadata", path, act);
    const char *alpha = st ? NULL : crease__st_meta(f, "crease.leaky_alpha");
    if (alpha && o.act == CREASE_ACT_LEAKY_RELU) o.leaky_alpha = strtof(alpha, NULL);
    const char *loss = st ? NULL : crease__st_meta(f, "crease.loss");
    if (loss) {
        if (!strcmp(loss, "bce")) o.loss = CREASE_LOSS_BCE;
        else if (!strcmp(loss, "mse")) o.loss = CREASE_LOSS_MSE;
        else if (!strcmp(loss, "xent")) o.loss = CREASE_LOSS_XENT;
        else st = crease__error(CREASE_EFORMAT, "%s: unknown loss '%s' in the metadata", path, loss);
    }

    crease_net *n = NULL;
    if (!st) st = crease_net_new(dev, spec, &o, &n);
    for (int l = 0; l < nl && !st; l++) st = crease_net_set_layer(n, l, layers[l].w->data, layers[l].b->data);
    crease__st_free(f);
    if (st) {
        crease_net_free(n);
        return st;
    }
    *out = n;
    return CREASE_OK;
}
