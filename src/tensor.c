/* tensor.c -- float32 tensors of 1..4 dimensions living on a device. */
#include "config.h"
#include "internal.h"

#include <stdlib.h>

crease_status crease_tensor_new(crease_device *dev, int ndim, const int64_t *shape,
                                crease_tensor **out)
{
    if (!out) return crease__error(CREASE_EINVAL, "crease_tensor_new: out is NULL");
    *out = NULL;
    if (!dev || !shape) return crease__error(CREASE_EINVAL, "crease_tensor_new: NULL device or shape");
    if (ndim < 1 || ndim > CREASE_MAX_DIMS)
        return crease__error(CREASE_EINVAL, "tensor rank %d: must be 1..%d", ndim, CREASE_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return crease__error(CREASE_EINVAL, "tensor dimension %d is %lld: must be positive", i,
                                 (long long)shape[i]);
        if ((uint64_t)shape[i] > (SIZE_MAX / sizeof(float)) / numel)
            return crease__error(CREASE_ENOMEM, "tensor too large (size overflows)");
        numel *= (size_t)shape[i];
    }
    crease_tensor *t = calloc(1, sizeof *t);
    if (!t) return crease__error(CREASE_ENOMEM, "out of memory");
    t->dev = dev;
    t->ndim = ndim;
    t->numel = numel;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    int st = dev->ops->buf_alloc(dev->ctx, numel * sizeof(float), &t->buf);
    if (st) {
        free(t);
        return st;
    }
    *out = t;
    return CREASE_OK;
}

void crease_tensor_free(crease_tensor *t)
{
    if (!t) return;
    t->dev->ops->buf_free(t->dev->ctx, t->buf);
    free(t);
}

int crease_tensor_ndim(const crease_tensor *t)
{
    return t ? t->ndim : 0;
}

int64_t crease_tensor_dim(const crease_tensor *t, int axis)
{
    return t && axis >= 0 && axis < t->ndim ? t->shape[axis] : 0;
}

size_t crease_tensor_numel(const crease_tensor *t)
{
    return t ? t->numel : 0;
}

crease_status crease_tensor_write(crease_tensor *t, const float *src)
{
    if (!t || !src) return crease__error(CREASE_EINVAL, "crease_tensor_write: NULL argument");
    return t->dev->ops->buf_write(t->dev->ctx, t->buf, 0, t->numel * sizeof(float), src);
}

crease_status crease_tensor_read(const crease_tensor *t, float *dst)
{
    if (!t || !dst) return crease__error(CREASE_EINVAL, "crease_tensor_read: NULL argument");
    return t->dev->ops->buf_read(t->dev->ctx, t->buf, 0, t->numel * sizeof(float), dst);
}

crease_status crease_tensor_fill(crease_tensor *t, float value)
{
    if (!t) return crease__error(CREASE_EINVAL, "crease_tensor_fill: NULL tensor");
    return t->dev->ops->fill(t->dev->ctx, t->buf, t->numel, value);
}
