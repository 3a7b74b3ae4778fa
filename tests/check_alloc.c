/* check_alloc.c -- no allocation inside a training step.
 *
 * This program defines malloc, calloc, realloc, free, posix_memalign,
 * aligned_alloc, memalign and valloc itself (glibc lets the main program
 * replace them); each forwards to the C library's own through
 * dlsym(RTLD_NEXT) and counts the call while counting is on.  The core, the
 * cpu plugin (dlopen()ed later, its calls bind to these definitions too) and
 * the C library are all seen.
 *
 * A few small nets are trained on the cpu device; after a first epoch
 * (which may allocate: workspaces, packing buffers and scratch grow to
 * their final size then), epochs 2 and 3 must make no call at all.  One
 * net has more than 64 classes and asks for a progress report after every
 * step, so the metric read-backs inside an epoch are covered for a large
 * confusion matrix too.  With CREASE_NUM_THREADS=2 the pool's threads are
 * covered as well.  The first few offending calls are printed with the
 * function that made them.
 *
 * AddressSanitizer replaces malloc itself; in a sanitizer build this test
 * prints SKIP and exits 77 (skipped).
 */
#define _GNU_SOURCE

#include <crease.h>

#include <dlfcn.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h> /* memalign */
#endif
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define CK_SANITIZED 1
#endif
#endif

#ifndef CK_SANITIZED
/* ------------------------------------------------------------ interposers */

enum { F_MALLOC, F_CALLOC, F_REALLOC, F_FREE, F_POSIX_MEMALIGN, F_ALIGNED_ALLOC, F_MEMALIGN,
       F_VALLOC, NF };
static const char *const fname[NF] = {"malloc", "calloc", "realloc", "free",
                                      "posix_memalign", "aligned_alloc", "memalign", "valloc"};

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);

static atomic_int counting;
static atomic_long counts[NF];
#define MAX_SEEN 16
static atomic_int nseen;
static struct {
    int f;
    size_t size;
    void *caller;
} seen[MAX_SEEN];

/* dlsym may itself call calloc before the real one is known: such early
 * requests are served from a static arena, which free() then ignores */
static _Alignas(64) char boot[8192];
static size_t boot_used;
static int resolving;

static int resolved;

static void *boot_alloc(size_t n)
{
    n = (n + 63) & ~(size_t)63;
    if (boot_used + n > sizeof boot)
        return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p;
}

static int in_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void resolve(void)
{
    if (resolved || resolving)
        return;
    resolving = 1;
    /* free first: dlsym may allocate with the real malloc once it is known,
     * and release that again */
    *(void **)&real_free = dlsym(RTLD_NEXT, "free");
    *(void **)&real_calloc = dlsym(RTLD_NEXT, "calloc");
    *(void **)&real_realloc = dlsym(RTLD_NEXT, "realloc");
    *(void **)&real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    *(void **)&real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
#ifdef __GLIBC__
    *(void **)&real_memalign = dlsym(RTLD_NEXT, "memalign");
    *(void **)&real_valloc = dlsym(RTLD_NEXT, "valloc");
#endif
    *(void **)&real_malloc = dlsym(RTLD_NEXT, "malloc");
    resolving = 0;
    resolved = 1;
}

static inline void count(int f, size_t size, void *caller)
{
    if (!atomic_load_explicit(&counting, memory_order_relaxed))
        return;
    atomic_fetch_add(&counts[f], 1);
    int i = atomic_fetch_add(&nseen, 1);
    if (i < MAX_SEEN) {
        seen[i].f = f;
        seen[i].size = size;
        seen[i].caller = caller;
    }
}

#define CALLER __builtin_return_address(0)

void *malloc(size_t n)
{
    resolve();
    if (!real_malloc)
        return boot_alloc(n);
    count(F_MALLOC, n, CALLER);
    return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    resolve();
    if (!real_calloc)
        return b && a > SIZE_MAX / b ? NULL : boot_alloc(a * b); /* static: zeroed */
    count(F_CALLOC, a * b, CALLER);
    return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (in_boot(p) || !real_realloc) {
        /* an arena block (or no real realloc yet): a fresh block, and as
         * much of the old one as the arena holds after it */
        void *q = real_malloc ? real_malloc(n) : boot_alloc(n);
        if (q && p) {
            size_t room = in_boot(p) ? (size_t)(boot + sizeof boot - (char *)p) : n;
            memcpy(q, p, n < room ? n : room);
        }
        return q;
    }
    count(F_REALLOC, n, CALLER);
    return real_realloc(p, n);
}

void free(void *p)
{
    if (!p || in_boot(p))
        return;
    resolve();
    count(F_FREE, 0, CALLER);
    if (real_free)
        real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    count(F_POSIX_MEMALIGN, n, CALLER);
    return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    resolve();
    count(F_ALIGNED_ALLOC, n, CALLER);
    return real_aligned_alloc(align, n);
}

#ifdef __GLIBC__
void *memalign(size_t align, size_t n)
{
    resolve();
    count(F_MEMALIGN, n, CALLER);
    return real_memalign(align, n);
}

void *valloc(size_t n)
{
    resolve();
    count(F_VALLOC, n, CALLER);
    return real_valloc(n);
}
#endif

/* ------------------------------------------------------------ the test */

static int fail(const char *what, crease_status st)
{
    fprintf(stderr, "check_alloc: %s: %s (%s)\n", what, crease_status_str(st), crease_last_error());
    return 1;
}

/* A small labelled set in a square: two classes inside and outside a
 * ring, more by the sector of the angle. */
static crease_dataset *dataset(size_t n, int classes)
{
    float *x = malloc(n * 2 * sizeof(float));
    int *y = malloc(n * sizeof(int));
    crease_dataset *d = NULL;
    uint64_t s = 42;
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < 2; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[2 * i + j] = (float)((double)(s >> 40) / 8388608.0 - 1.0);
        }
        float r2 = x[2 * i] * x[2 * i] + x[2 * i + 1] * x[2 * i + 1];
        double turn = (atan2(x[2 * i + 1], x[2 * i]) + M_PI) / (2 * M_PI);
        y[i] = classes == 2 ? r2 < 0.5f : (int)(turn * classes) % classes;
        if (i % 97 == 5)
            y[i] = -1; /* unlabelled points are skipped by training */
    }
    if (crease_dataset_new(n, 2, classes, x, y, &d) != CREASE_OK)
        d = NULL;
    free(x);
    free(y);
    return d;
}

struct setup {
    const char *spec;
    int act;
    crease_loss loss;
    crease_optimizer opt;
    int classes;
    int batch;
    int progress; /* a progress report (metric read-back) after every step */
};

static long reports;

static int on_progress(const crease_progress *p, void *user)
{
    (void)p;
    (void)user;
    reports++;
    return 0;
}

static int run(crease_device *dev, const struct setup *su)
{
    crease_dataset *d = dataset(5000, su->classes);
    if (!d)
        return fail("dataset", CREASE_ENOMEM);
    crease_net_opts no;
    crease_net_opts_default(&no);
    no.act = su->act;
    no.loss = su->loss;
    /* the canary: creating the net allocates device buffers in the
     * plugin (posix_memalign there); if these calls are not seen, the
     * interposition does not work and a zero below would prove nothing */
    for (int f = 0; f < NF; f++)
        atomic_store(&counts[f], 0);
    atomic_store(&counting, 1);
    crease_net *net = NULL;
    crease_status st = crease_net_new(dev, su->spec, &no, &net);
    atomic_store(&counting, 0);
    if (st)
        return fail("crease_net_new", st);
    if (atomic_load(&counts[F_POSIX_MEMALIGN]) == 0 || atomic_load(&counts[F_MALLOC]) == 0) {
        printf("FAIL: the allocation counters see nothing (malloc %ld, posix_memalign %ld "
               "during crease_net_new)\n",
               atomic_load(&counts[F_MALLOC]), atomic_load(&counts[F_POSIX_MEMALIGN]));
        return 1;
    }
    crease_train_opts to;
    crease_train_opts_default(&to);
    to.batch = su->batch;
    to.optimizer = su->opt;
    to.momentum = 0.9f;
    to.nesterov = 1;
    to.weight_decay = 1e-4f;
    to.schedule = CREASE_SCHED_COSINE;
    to.epochs = 3;
    if (su->progress) {
        to.progress = on_progress;
        to.report_interval = 0;
    }
    crease_trainer *tr = NULL;
    st = crease_trainer_new(net, d, &to, &tr);
    if (st)
        return fail("crease_trainer_new", st);
    crease_metrics m;
    st = crease_trainer_epoch(tr, &m); /* may allocate: sizes settle */
    if (st)
        return fail("first epoch", st);

    for (int f = 0; f < NF; f++)
        atomic_store(&counts[f], 0);
    atomic_store(&nseen, 0);
    reports = 0;
    atomic_store(&counting, 1);
    for (int e = 0; e < 2 && !st; e++)
        st = crease_trainer_epoch(tr, &m);
    atomic_store(&counting, 0);
    if (st)
        return fail("epochs 2-3", st);
    if (su->progress && reports < 4) {
        printf("FAIL: %s: %ld progress reports in epochs 2-3, expected one per step\n",
               su->spec, reports);
        return 1;
    }

    long total = 0;
    char line[512];
    size_t used = 0;
    for (int f = 0; f < NF; f++) {
        long c = atomic_load(&counts[f]);
        total += c;
        used += (size_t)snprintf(line + used, sizeof line - used, " %s %ld", fname[f], c);
    }
    printf("%s (%s, batch %d%s): epochs 2-3 made %ld allocation calls:%s; loss %.4f\n",
           su->spec, crease_optimizer_name(su->opt), su->batch,
           su->progress ? ", a progress report per step" : "", total, line, m.loss);
    int n = atomic_load(&nseen);
    for (int i = 0; i < n && i < MAX_SEEN; i++) {
        Dl_info info;
        memset(&info, 0, sizeof info);
        dladdr(seen[i].caller, &info);
        printf("  %s(%zu) from %s in %s+0x%lx (addr2line -f -e on that file)\n",
               fname[seen[i].f], seen[i].size, info.dli_sname ? info.dli_sname : "?",
               info.dli_fname ? info.dli_fname : "?",
               (unsigned long)((uintptr_t)seen[i].caller - (uintptr_t)info.dli_fbase));
    }
    crease_trainer_free(tr);
    crease_net_free(net);
    crease_dataset_free(d);
    return total != 0;
}

int main(void)
{
    resolve();
    /* the pool's threads too; set before the plugin is loaded */
    setenv("CREASE_NUM_THREADS", "2", 0);
    crease_device *dev = NULL;
    crease_status st = crease_device_open("cpu:0", &dev);
    if (st)
        return fail("crease_device_open(cpu:0)", st);
    printf("device cpu:0, variant %s\n", crease_device_variant(dev));
    static const struct setup setups[] = {
        {"2-32-32-32-32-2", CREASE_ACT_RELU, CREASE_LOSS_AUTO, CREASE_OPT_ADAM, 2, 256, 0},
        {"2-16-1", CREASE_ACT_TANH, CREASE_LOSS_BCE, CREASE_OPT_SGD, 2, 100, 0},
        {"2-24-24-3", CREASE_ACT_SIGMOID, CREASE_LOSS_MSE, CREASE_OPT_ADAMW, 3, 64, 0},
        {"2-512-2", CREASE_ACT_LEAKY_RELU, CREASE_LOSS_AUTO, CREASE_OPT_ADAM, 2, 1024, 0},
        /* more than 64 classes: a confusion matrix larger than 64 x 64 */
        {"2-16-80", CREASE_ACT_RELU, CREASE_LOSS_AUTO, CREASE_OPT_ADAM, 80, 500, 1},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof setups / sizeof *setups; i++)
        bad |= run(dev, &setups[i]);
    crease_device_free(dev);
    printf("%s\n", bad ? "FAIL: a training step allocates" : "PASS: no allocation in a training step");
    return bad;
}

#else /* sanitizers */

int main(void)
{
    printf("SKIP check_alloc: built with a sanitizer, which replaces malloc itself\n");
    return 77;
}

#endif
