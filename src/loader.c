/* loader.c -- finds, checks and loads backend plugins.
 *
 * Every file named crease-*.so on the search path is a candidate.  A
 * candidate is skipped, with the reason kept for `crease devices`, when it
 * cannot be dlopen()ed, lacks the entry symbol, speaks another ABI major,
 * has a table too small for this ABI, scores 0 on this machine, duplicates a
 * name+variant found earlier on the path, loses to a better-scoring variant
 * of the same backend, or fails init().  Nothing here crashes or exits on a
 * bad plugin. */
#include "config.h"
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef CREASE_PLUGIN_DIR
#define CREASE_PLUGIN_DIR ""
#endif
#ifndef CREASE_BUILD_PLUGIN_PATH
#define CREASE_BUILD_PLUGIN_PATH ""
#endif

struct skipped {
    char *path;
    char *reason;
};

struct candidate {
    char *path;
    void *handle;
    const struct crease_plugin *p;
    int score;
    int vi; /* its entry in variants[], or -1 */
};

/* Every name+variant that speaks this ABI, for crease_plugin_variant_get. */
struct variant {
    char *name, *variant, *path, *reason;
    int score, loaded, runnable, plugin;
    int order; /* discovery order, the last sort key */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;
static int use_default_dirs = 1; /* tests turn the built-in directories off */
static struct crease_loaded_plugin *plugins;
static int n_plugins;
static struct skipped *skipped;
static int n_skipped;
static struct variant *variants;
static int n_variants;

static void skip(const char *path, const char *fmt, ...) CREASE_PRINTF(2, 3);
static void skip(const char *path, const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    crease__log(3, "plugin %s skipped: %s", path, reason);
    struct skipped *ns = realloc(skipped, (size_t)(n_skipped + 1) * sizeof *ns);
    if (!ns) return; /* losing a diagnostic is better than failing the load */
    skipped = ns;
    skipped[n_skipped].path = strdup(path);
    skipped[n_skipped].reason = strdup(reason);
    if (skipped[n_skipped].path && skipped[n_skipped].reason)
        n_skipped++;
    else {
        free(skipped[n_skipped].path);
        free(skipped[n_skipped].reason);
    }
}

/* Sets the reason a variant is not used (NULL: it is used). */
static void variant_reason(int vi, const char *fmt, ...) CREASE_PRINTF(2, 3);
static void variant_reason(int vi, const char *fmt, ...)
{
    if (vi < 0 || vi >= n_variants) return;
    struct variant *v = &variants[vi];
    free(v->reason);
    v->reason = NULL;
    if (!fmt) return;
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    v->reason = strdup(reason);
}

/* Records a file that speaks this ABI; returns its index, or -1 when the
 * same name+variant is already listed (or memory ran out). */
static int variant_add(const struct crease_plugin *p, const char *path, int score)
{
    const char *variant = p->variant ? p->variant : "";
    for (int i = 0; i < n_variants; i++)
        if (!strcmp(variants[i].name, p->name) && !strcmp(variants[i].variant, variant)) return -1;
    struct variant *nv = realloc(variants, (size_t)(n_variants + 1) * sizeof *nv);
    if (!nv) return -1;
    variants = nv;
    struct variant *v = &variants[n_variants];
    memset(v, 0, sizeof *v);
    v->name = strdup(p->name);
    v->variant = strdup(variant);
    v->path = strdup(path);
    if (!v->name || !v->variant || !v->path) {
        free(v->name);
        free(v->variant);
        free(v->path);
        return -1;
    }
    v->score = score;
    v->runnable = score > 0;
    v->plugin = -1;
    v->order = n_variants;
    return n_variants++;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Required part of each table: everything up to and including the last
 * slot of ABI 1.0 that is not optional. */
#define MIN_PLUGIN_SIZE (offsetof(struct crease_plugin, ops) + sizeof(void *))
#define MIN_OPS_SIZE (offsetof(struct crease_ops, adam_update) + sizeof(void *))

static int ops_complete(const struct crease_ops *o, const char **missing)
{
    /* Every required slot must be non-NULL. */
#define REQ(slot) if (!o->slot) { *missing = #slot; return 0; }
    REQ(buf_alloc) REQ(buf_free) REQ(buf_write) REQ(buf_read) REQ(buf_copy)
    REQ(fill) REQ(finish) REQ(gemm) REQ(bias_add) REQ(reduce_rows) REQ(sum)
    REQ(scale) REQ(axpy) REQ(act_fwd) REQ(act_bwd) REQ(softmax_xent)
    REQ(bce_logits) REQ(mse) REQ(confusion) REQ(gather_rows) REQ(sgd_update)
    REQ(adam_update)
#undef REQ
    return 1;
}

/* Examine one file; on success append it to *cands. */
static void consider(const char *path, struct candidate **cands, int *n)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp((*cands)[i].path, path)) return; /* same file twice on the path */

    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        skip(path, "cannot be loaded: %s", e ? e : "unknown dlopen error");
        return;
    }
    crease_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, CREASE_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        skip(path, "not a crease plugin: no %s symbol", CREASE_PLUGIN_ENTRY_SYMBOL);
        dlclose(h);
        return;
    }
    const struct crease_plugin *p = entry();
    const char *missing = NULL;
    if (!p) {
        skip(path, "%s() returned NULL", CREASE_PLUGIN_ENTRY_SYMBOL);
    } else if (p->size < MIN_PLUGIN_SIZE) {
        skip(path, "plugin descriptor too small (%zu bytes, need %zu)", p->size,
             (size_t)MIN_PLUGIN_SIZE);
    } else if (p->abi_major != CREASE_ABI_MAJOR) {
        skip(path, "plugin ABI %d.%d, this library speaks ABI %d.x", p->abi_major,
             p->abi_minor, CREASE_ABI_MAJOR);
    } else if (!p->name || !*p->name || !p->score || !p->init || !p->device_count ||
               !p->device_info || !p->device_open || !p->device_close || !p->ops) {
        skip(path, "plugin descriptor incomplete (name, score, init, device or ops slot missing)");
    } else if (p->ops->size < MIN_OPS_SIZE) {
        skip(path, "ops table too small (%zu bytes, ABI %d.0 needs %zu)", p->ops->size,
             CREASE_ABI_MAJOR, (size_t)MIN_OPS_SIZE);
    } else if (!ops_complete(p->ops, &missing)) {
        skip(path, "required op '%s' missing", missing);
    } else {
        int score = p->score();
        const char *variant = p->variant ? p->variant : "";
        char envname[64];
        snprintf(envname, sizeof envname, "CREASE_%s_VARIANT", p->name);
        for (char *c = envname; *c; c++)
            if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
        const char *forced = getenv(envname);
        int vi = variant_add(p, path, score);
        if (score <= 0) {
            skip(path, "%s variant '%s' cannot run on this machine (score 0)", p->name, variant);
            variant_reason(vi, "cannot run on this machine (score 0)");
        } else if (forced && *forced && strcmp(forced, variant)) {
            skip(path, "%s variant '%s' not used: %s=%s", p->name, variant, envname, forced);
            variant_reason(vi, "not used: %s=%s", envname, forced);
        } else {
            for (int i = 0; i < *n; i++) {
                const struct crease_plugin *q = (*cands)[i].p;
                if (!strcmp(q->name, p->name) &&
                    !strcmp(q->variant ? q->variant : "", variant)) {
                    skip(path, "%s variant '%s' already found earlier on the path in %s",
                         p->name, variant, (*cands)[i].path);
                    dlclose(h);
                    return;
                }
            }
            struct candidate *nc = realloc(*cands, (size_t)(*n + 1) * sizeof *nc);
            char *pc = strdup(path);
            if (!nc || !pc) {
                free(pc);
                if (nc) *cands = nc;
                skip(path, "out of memory");
                variant_reason(vi, "out of memory");
                dlclose(h);
                return;
            }
            *cands = nc;
            nc[*n] = (struct candidate){pc, h, p, score, vi};
            (*n)++;
            return;
        }
    }
    dlclose(h);
}

static void scan_dir(const char *dir, struct candidate **cands, int *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        crease__log(3, "plugin directory %s: not readable", dir);
        return;
    }
    char **names = NULL;
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 11 || strncmp(e->d_name, "crease-", 7) || strcmp(e->d_name + len - 3, ".so"))
            continue;
        char **nm = realloc(names, (size_t)(nn + 1) * sizeof *nm);
        if (!nm) break;
        names = nm;
        if ((names[nn] = strdup(e->d_name))) nn++;
    }
    closedir(d);
    /* Sorted, so the outcome never depends on directory order. */
    qsort(names, (size_t)nn, sizeof *names, name_cmp);
    for (int i = 0; i < nn; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char real[PATH_MAX];
        consider(realpath(path, real) ? real : path, cands, n);
        free(names[i]);
    }
    free(names);
}

static void scan_path_list(const char *list, struct candidate **cands, int *n)
{
    if (!list || !*list) return;
    char *copy = strdup(list);
    if (!copy) return;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
        if (*dir) scan_dir(dir, cands, n);
    free(copy);
}

/* Orders candidates by backend name, best score first; a stable insertion
 * sort, so among equal scores the one earlier on the search path wins. */
static int cand_before(const struct candidate *x, const struct candidate *y)
{
    int c = strcmp(x->p->name, y->p->name);
    return c < 0 || (c == 0 && x->score > y->score);
}

static int variant_before(const struct variant *x, const struct variant *y)
{
    int c = strcmp(x->name, y->name);
    if (c) return c < 0;
    if (x->score != y->score) return x->score < y->score;
    c = strcmp(x->path, y->path);
    return c ? c < 0 : x->order < y->order;
}

/* Sorts the variant list and links each entry to its backend's loaded
 * plugin. */
static void finish_variants(void)
{
    for (int i = 1; i < n_variants; i++) {
        struct variant v = variants[i];
        int j = i;
        for (; j > 0 && variant_before(&v, &variants[j - 1]); j--) variants[j] = variants[j - 1];
        variants[j] = v;
    }
    for (int i = 0; i < n_variants; i++) {
        struct variant *v = &variants[i];
        for (int j = 0; j < n_plugins; j++)
            if (!strcmp(plugins[j].p->name, v->name)) v->plugin = j;
        if (!v->loaded && !v->reason) v->reason = strdup("not used");
    }
}

static int do_load(void)
{
    struct candidate *cands = NULL;
    int n = 0;
    scan_path_list(getenv("CREASE_PLUGIN_PATH"), &cands, &n);
    if (use_default_dirs) {
        scan_path_list(CREASE_PLUGIN_DIR, &cands, &n);
        scan_path_list(CREASE_BUILD_PLUGIN_PATH, &cands, &n);
    }

    for (int i = 1; i < n; i++) {
        struct candidate c = cands[i];
        int j = i;
        for (; j > 0 && cand_before(&c, &cands[j - 1]); j--) cands[j] = cands[j - 1];
        cands[j] = c;
    }

    for (int i = 0; i < n; i++) {
        struct candidate *c = &cands[i];
        const char *variant = c->p->variant ? c->p->variant : "";
        const struct crease_loaded_plugin *have = NULL;
        for (int j = 0; j < n_plugins; j++)
            if (!strcmp(plugins[j].p->name, c->p->name)) have = &plugins[j];
        if (have) {
            skip(c->path, "%s variant '%s' (score %d) not used: variant '%s' scores higher",
                 c->p->name, variant, c->score, have->p->variant ? have->p->variant : "");
            variant_reason(c->vi, "variant '%s' scores higher", have->p->variant ? have->p->variant : "");
            dlclose(c->handle);
            free(c->path);
            continue;
        }
        crease__clear_error();
        int st = c->p->init(&crease__host);
        if (st != CREASE_OK) {
            const char *why = crease_last_error();
            skip(c->path, "%s variant '%s': init failed: %s", c->p->name, variant,
                 *why ? why : crease_status_str(st));
            variant_reason(c->vi, "init failed: %s", *why ? why : crease_status_str(st));
            if (c->vi >= 0) variants[c->vi].runnable = 0;
            dlclose(c->handle);
            free(c->path);
            continue;
        }
        struct crease_loaded_plugin *np = realloc(plugins, (size_t)(n_plugins + 1) * sizeof *np);
        if (!np) {
            if (c->p->fini) c->p->fini();
            skip(c->path, "out of memory");
            variant_reason(c->vi, "out of memory");
            dlclose(c->handle);
            free(c->path);
            continue;
        }
        plugins = np;
        plugins[n_plugins++] = (struct crease_loaded_plugin){c->p, c->handle, c->path};
        if (c->vi >= 0) variants[c->vi].loaded = 1;
        crease__log(3, "plugin %s variant '%s' loaded from %s", c->p->name, variant, c->path);
    }
    free(cands);
    finish_variants();
    crease__clear_error();
    if (n_plugins == 0)
        return crease__error(CREASE_ENODEV,
                             "no usable backend plugin found (searched $CREASE_PLUGIN_PATH, %s%s%s); "
                             "run 'crease devices' to see why",
                             *CREASE_PLUGIN_DIR ? CREASE_PLUGIN_DIR : "",
                             *CREASE_BUILD_PLUGIN_PATH ? ", " : "", CREASE_BUILD_PLUGIN_PATH);
    return CREASE_OK;
}

crease_status crease_plugins_load(void)
{
    pthread_mutex_lock(&lock);
    int st = CREASE_OK;
    if (!loaded) {
        loaded = 1;
        st = do_load();
    } else if (n_plugins == 0) {
        st = crease__error(CREASE_ENODEV, "no usable backend plugin found; run 'crease devices' to see why");
    }
    pthread_mutex_unlock(&lock);
    return st;
}

void crease__plugins_reset(int default_dirs)
{
    pthread_mutex_lock(&lock);
    use_default_dirs = default_dirs;
    for (int i = 0; i < n_plugins; i++) {
        if (plugins[i].p->fini) plugins[i].p->fini();
        dlclose(plugins[i].handle);
        free(plugins[i].path);
    }
    free(plugins);
    plugins = NULL;
    n_plugins = 0;
    for (int i = 0; i < n_skipped; i++) {
        free(skipped[i].path);
        free(skipped[i].reason);
    }
    free(skipped);
    skipped = NULL;
    n_skipped = 0;
    for (int i = 0; i < n_variants; i++) {
        free(variants[i].name);
        free(variants[i].variant);
        free(variants[i].path);
        free(variants[i].reason);
    }
    free(variants);
    variants = NULL;
    n_variants = 0;
    loaded = 0;
    pthread_mutex_unlock(&lock);
}

int crease_plugin_count(void)
{
    crease_plugins_load();
    return n_plugins;
}

const struct crease_loaded_plugin *crease__plugin(int i)
{
    crease_plugins_load();
    return i >= 0 && i < n_plugins ? &plugins[i] : NULL;
}

const struct crease_loaded_plugin *crease__plugin_by_name(const char *name)
{
    crease_plugins_load();
    for (int i = 0; i < n_plugins; i++)
        if (!strcasecmp(plugins[i].p->name, name)) return &plugins[i];
    return NULL;
}

crease_status crease_plugin_get(int i, crease_plugin_desc *out)
{
    const struct crease_loaded_plugin *lp = crease__plugin(i);
    if (!lp || !out) return crease__error(CREASE_EINVAL, "no plugin %d (%d loaded)", i, n_plugins);
    out->name = lp->p->name;
    out->variant = lp->p->variant ? lp->p->variant : "";
    out->description = lp->p->description ? lp->p->description : "";
    out->path = lp->path;
    out->score = lp->p->score();
    out->abi_major = lp->p->abi_major;
    out->abi_minor = lp->p->abi_minor;
    out->device_count = lp->p->device_count();
    return CREASE_OK;
}

int crease_plugin_skipped_count(void)
{
    crease_plugins_load();
    return n_skipped;
}

crease_status crease_plugin_skipped_get(int i, const char **path, const char **reason)
{
    crease_plugins_load();
    if (i < 0 || i >= n_skipped) return crease__error(CREASE_EINVAL, "no skipped plugin %d", i);
    if (path) *path = skipped[i].path;
    if (reason) *reason = skipped[i].reason;
    return CREASE_OK;
}

int crease_plugin_variant_count(void)
{
    crease_plugins_load();
    return n_variants;
}

crease_status crease_plugin_variant_get(int i, crease_plugin_variant *out)
{
    crease_plugins_load();
    if (!out) return crease__error(CREASE_EINVAL, "crease_plugin_variant_get: out is NULL");
    if (i < 0 || i >= n_variants)
        return crease__error(CREASE_EINVAL, "no plugin variant %d (%d found)", i, n_variants);
    if (out->size < sizeof out->size)
        return crease__error(CREASE_EINVAL, "crease_plugin_variant_get: out->size not set");
    const struct variant *v = &variants[i];
    crease_plugin_variant full;
    memset(&full, 0, sizeof full);
    full.name = v->name;
    full.variant = v->variant;
    full.path = v->path;
    full.reason = v->loaded || !v->reason ? "" : v->reason;
    full.score = v->score;
    full.loaded = v->loaded;
    full.runnable = v->runnable;
    full.plugin = v->plugin;
    size_t want = out->size;
    memcpy((char *)out + sizeof out->size, (char *)&full + sizeof full.size,
           (want < sizeof full ? want : sizeof full) - sizeof full.size);
    out->size = want;
    return CREASE_OK;
}
