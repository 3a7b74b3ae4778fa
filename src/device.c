/* device.c -- device names ("cpu:0", "opencl:gpu"), opening and closing. */
#include "config.h"
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) return 0;
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static void info_of(const struct crease_loaded_plugin *lp, int i, struct crease_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
    lp->p->device_info(i, info);
}

crease_status crease_plugin_device_info(int plugin, int index, struct crease_device_info *info)
{
    const struct crease_loaded_plugin *lp = crease__plugin(plugin);
    if (!lp || !info) return crease__error(CREASE_EINVAL, "no plugin %d", plugin);
    if (index < 0 || index >= lp->p->device_count())
        return crease__error(CREASE_ENODEV, "%s has no device %d", lp->p->name, index);
    size_t want = info->size;
    struct crease_device_info full;
    info_of(lp, index, &full);
    memcpy(info, &full, want < sizeof full ? want : sizeof full);
    info->size = want;
    return CREASE_OK;
}

/* Names of the loaded backends, for error messages. */
static void backend_list(char *buf, size_t len)
{
    buf[0] = '\0';
    int n = crease_plugin_count();
    for (int i = 0; i < n; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", i ? ", " : "", crease__plugin(i)->p->name);
    }
    if (n == 0) snprintf(buf, len, "none");
}

/* Resolves name to a loaded plugin and a device index. */
static crease_status find_device(const char *name, const struct crease_loaded_plugin **lpp, int *plugin,
                                 int *index_out)
{
    if (!name || !*name) name = getenv("CREASE_DEVICE");
    if (!name || !*name) name = "cpu:0";
    int st = crease_plugins_load();
    if (st) return st;

    char backend[64];
    const char *colon = strchr(name, ':');
    size_t blen = colon ? (size_t)(colon - name) : strlen(name);
    const char *sel = colon ? colon + 1 : "0";
    if (blen == 0 || blen >= sizeof backend || !*sel)
        return crease__error(CREASE_EINVAL,
                             "bad device name '%s': expected BACKEND[:INDEX|:SELECTOR], e.g. cpu:0, opencl:gpu",
                             name);
    memcpy(backend, name, blen);
    backend[blen] = '\0';

    const struct crease_loaded_plugin *lp = crease__plugin_by_name(backend);
    if (!lp) {
        char list[256];
        backend_list(list, sizeof list);
        return crease__error(CREASE_ENODEV,
                             "unknown device '%s': no backend '%s' is loaded (loaded: %s; "
                             "'crease devices' shows why a plugin was skipped)",
                             name, backend, list);
    }
    int count = lp->p->device_count();
    int index = -1;
    if (all_digits(sel)) {
        long v = strtol(sel, NULL, 10);
        if (v >= count || strlen(sel) > 6) {
            const char *b = lp->p->name;
            char range[160] = "";
            if (count == 1)
                snprintf(range, sizeof range, " (%s:0)", b);
            else if (count > 1)
                snprintf(range, sizeof range, " (%s:0 .. %s:%d)", b, b, count - 1);
            return crease__error(CREASE_ENODEV, "unknown device '%s': backend %s has %d device%s%s", name,
                                 b, count, count == 1 ? "" : "s", range);
        }
        index = (int)v;
    } else {
        /* Type matches exactly ("gpu"); otherwise a substring of the vendor,
         * platform or device name ("pocl", "nvidia"). */
        for (int i = 0; i < count && index < 0; i++) {
            struct crease_device_info info;
            info_of(lp, i, &info);
            if (!strcasecmp(info.type, sel)) index = i;
        }
        for (int i = 0; i < count && index < 0; i++) {
            struct crease_device_info info;
            info_of(lp, i, &info);
            if (ci_contains(info.vendor, sel) || ci_contains(info.platform, sel) ||
                ci_contains(info.name, sel))
                index = i;
        }
        if (index < 0)
            return crease__error(CREASE_ENODEV,
                                 "unknown device '%s': no %s device matches '%s' by type, vendor, platform or name",
                                 name, lp->p->name, sel);
    }
    if (lpp) *lpp = lp;
    if (plugin) {
        *plugin = -1;
        for (int i = 0; i < crease_plugin_count(); i++)
            if (crease__plugin(i) == lp) *plugin = i;
    }
    if (index_out) *index_out = index;
    return CREASE_OK;
}

crease_status crease_device_find(const char *name, int *plugin, int *index)
{
    return find_device(name, NULL, plugin, index);
}

crease_status crease_device_open(const char *name, crease_device **out)
{
    if (!out) return crease__error(CREASE_EINVAL, "crease_device_open: out is NULL");
    *out = NULL;
    const struct crease_loaded_plugin *lp = NULL;
    int index = -1;
    int st = find_device(name, &lp, NULL, &index);
    if (st) return st;
    if (!name || !*name) name = getenv("CREASE_DEVICE");
    if (!name || !*name) name = "cpu:0";

    crease_device *d = calloc(1, sizeof *d);
    if (!d) return crease__error(CREASE_ENOMEM, "out of memory");
    d->lp = lp;
    d->ops = lp->p->ops;
    d->index = index;
    snprintf(d->name, sizeof d->name, "%s:%d", lp->p->name, index);
    crease__clear_error();
    st = lp->p->device_open(index, &d->ctx);
    if (st != CREASE_OK || !d->ctx) {
        free(d);
        if (st == CREASE_OK) st = CREASE_EBACKEND;
        if (!*crease_last_error()) crease__error(st, "%s: device could not be opened", name);
        return st;
    }
    *out = d;
    return CREASE_OK;
}

void crease_device_free(crease_device *dev)
{
    if (!dev) return;
    dev->lp->p->device_close(dev->ctx);
    free(dev);
}

const char *crease_device_name(const crease_device *dev)
{
    return dev ? dev->name : "";
}

const char *crease_device_variant(const crease_device *dev)
{
    return dev && dev->lp->p->variant ? dev->lp->p->variant : "";
}

crease_status crease_device_get_info(const crease_device *dev, struct crease_device_info *info)
{
    if (!dev || !info) return crease__error(CREASE_EINVAL, "crease_device_get_info: NULL argument");
    for (int i = 0; i < crease_plugin_count(); i++)
        if (crease__plugin(i) == dev->lp) return crease_plugin_device_info(i, dev->index, info);
    return crease__error(CREASE_ENODEV, "device's plugin is not loaded");
}

crease_status crease_device_sync(crease_device *dev)
{
    if (!dev) return crease__error(CREASE_EINVAL, "crease_device_sync: device is NULL");
    return dev->ops->finish(dev->ctx);
}
