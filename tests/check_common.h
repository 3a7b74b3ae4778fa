/* check_common.h -- small helpers shared by the Check suites: running a
 * suite, temporary files and directories, a seeded RNG, error measures,
 * guarded device buffers, and opening every device of every loaded plugin.
 * Everything is static inline so a suite uses what it needs. */
#ifndef CREASE_CHECK_COMMON_H
#define CREASE_CHECK_COMMON_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* ------------------------------------------------------------- running */

/* The exit status that makes automake's test driver report SKIP; a suite
 * that skips prints why first, so that its log says it. */
#define CK_EXIT_SKIP 77

/* Runs s (each test forked, Check's default) and frees it; the exit status
 * of the program: 0 if every test passed, else 1. */
static inline int ck_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Adds the test case `name` to s with the tests (NULL-terminated), each
 * run between setup and teardown (a checked fixture: in the forked test
 * process; NULL for none), within timeout seconds (0: Check's default,
 * which make check sets with $CK_DEFAULT_TIMEOUT). */
static inline TCase *ck_add_tcase(Suite *s, const char *name, void (*setup)(void),
                                  void (*teardown)(void), double timeout,
                                  const TTest *const *tests)
{
    TCase *tc = tcase_create(name);
    if (setup || teardown)
        tcase_add_checked_fixture(tc, setup, teardown);
    if (timeout > 0)
        tcase_set_timeout(tc, timeout);
    for (int i = 0; tests[i]; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return tc;
}

/* The tests given, as the NULL-terminated list ck_add_tcase takes. */
#define CK_TESTS(...) ((const TTest *const[]){__VA_ARGS__, NULL})

/* main() of a suite `name` with one test case, "core", of the tests
 * listed after the fixture and the timeout (as ck_add_tcase takes them). */
#define CK_MAIN(name, setup, teardown, timeout, ...)                                   \
    int main(void)                                                                     \
    {                                                                                  \
        Suite *s_ = suite_create(name);                                                \
        ck_add_tcase(s_, "core", setup, teardown, timeout, CK_TESTS(__VA_ARGS__));     \
        return ck_run(s_);                                                             \
    }

/* Fails unless the thread's last error mentions `what`. */
static inline void ck_assert_error_has(const char *what)
{
    const char *e = crease_last_error();
    ck_assert_msg(strstr(e, what) != NULL, "last error \"%s\" lacks \"%s\"", e, what);
}

/* Every stride-th point of d, as a new data set (its dimension and
 * classes). */
static inline crease_dataset *ck_dataset_every(const crease_dataset *d, size_t stride)
{
    int dim = crease_dataset_dim(d);
    size_t n = crease_dataset_size(d) / stride;
    float *x = malloc((n ? n : 1) * (size_t)dim * sizeof(float));
    int *y = malloc((n ? n : 1) * sizeof(int));
    ck_assert(x && y);
    for (size_t i = 0; i < n; i++) {
        memcpy(x + (size_t)dim * i, crease_dataset_x(d) + (size_t)dim * i * stride,
               (size_t)dim * sizeof(float));
        y[i] = crease_dataset_labels(d)[i * stride];
    }
    crease_dataset *sub = NULL;
    ck_assert_int_eq(crease_dataset_new(n, dim, crease_dataset_classes(d), x, y, &sub),
                     CREASE_OK);
    free(x);
    free(y);
    return sub;
}

/* --------------------------------------------------------------- files */

/* Makes a new directory $TMPDIR/PREFIX-XXXXXX (/tmp if TMPDIR is unset or
 * empty) and writes its name into buf; NULL (errno set) if it cannot. */
static inline char *ck_make_tmpdir(char *buf, size_t cap, const char *prefix)
{
    const char *t = getenv("TMPDIR");
    int n = snprintf(buf, cap, "%s/%s-XXXXXX", t && *t ? t : "/tmp", prefix);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return mkdtemp(buf);
}

/* Removes path: a file, or a directory with everything in it. */
static inline void ck_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            size_t n = strlen(path) + strlen(e->d_name) + 2;
            char *sub = malloc(n);
            if (!sub)
                continue;
            snprintf(sub, n, "%s/%s", path, e->d_name);
            ck_remove_tree(sub);
            free(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

/* The whole file at path, malloc'd, NUL-terminated (not counted in *len,
 * which may be NULL); fails the test if it cannot be read. */
static inline unsigned char *ck_slurp(const char *path, size_t *len)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    int st = crease__read_file(path, &buf, &n);
    ck_assert_msg(st == CREASE_OK, "cannot read %s: %s", path, crease_last_error());
    if (len)
        *len = n;
    return buf;
}

/* Writes len bytes to path (created or truncated); fails the test if it
 * cannot. */
static inline void ck_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---------------------------------------------------------------- RNG */

/* splitmix64: tiny, seeded, the same sequence on every platform */
typedef struct ck_rng {
    uint64_t s;
} ck_rng;

static inline void ck_rng_seed(ck_rng *r, uint64_t seed)
{
    r->s = seed;
}

static inline uint64_t ck_rng_u64(ck_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static inline double ck_rng_uniform(ck_rng *r)
{
    return (double)(ck_rng_u64(r) >> 11) * 0x1p-53;
}

/* integer in [0, n) (n > 0; the tiny modulo bias is irrelevant here) */
static inline uint32_t ck_rng_below(ck_rng *r, uint32_t n)
{
    return (uint32_t)(ck_rng_u64(r) % n);
}

static inline void ck_fill_uniform(ck_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)ck_rng_uniform(r);
}

static inline float *ck_alloc_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static inline double *ck_alloc_doubles(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* A seeded generator, as a value. */
static inline ck_rng ck_rng_new(uint64_t seed)
{
    ck_rng r;
    ck_rng_seed(&r, seed);
    return r;
}

/* The host arrays of one test case, freed together by ck_scratch_free;
 * start with ck_scratch sc = {0}. */
#define CK_SCRATCH_MAX 16
typedef struct ck_scratch {
    void *p[CK_SCRATCH_MAX];
    int n;
} ck_scratch;

static inline void *ck_scratch_alloc(ck_scratch *s, size_t bytes)
{
    ck_assert_msg(s->n < CK_SCRATCH_MAX, "more than %d scratch arrays", CK_SCRATCH_MAX);
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(p);
    s->p[s->n++] = p;
    return p;
}

static inline float *ck_scratch_floats(ck_scratch *s, size_t n)
{
    return ck_scratch_alloc(s, n * sizeof(float));
}

static inline double *ck_scratch_doubles(ck_scratch *s, size_t n)
{
    return ck_scratch_alloc(s, n * sizeof(double));
}

static inline void ck_scratch_free(ck_scratch *s)
{
    while (s->n > 0)
        free(s->p[--s->n]);
}

/* ----------------------------------------------------------- measures */

/* Normalised mean squared error sum (got - ref)^2 / sum ref^2 over the
 * elements where ref is finite (the others are for ck_nonfinite_mismatch).
 * A tiny floor keeps an all-zero reference meaningful. */
static inline double ck_nmse(const float *got, const double *ref, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i]))
            continue;
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    if (num == 0.0)
        return 0.0;
    if (isnan(num))
        return INFINITY;
    return num / (den > 1e-30 * (double)n ? den : 1e-30 * (double)n);
}

/* Index of the first element where got and ref disagree on being NaN, +Inf,
 * -Inf or finite; -1 when the patterns are identical. */
static inline long ck_nonfinite_mismatch(const float *got, const double *ref, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        if (isnan(g) != isnan(r))
            return (long)i;
        if (isinf(g) != isinf(r) || (isinf(g) && (g > 0) != (r > 0)))
            return (long)i;
    }
    return -1;
}

/* ------------------------------------------------------------ devices */

#define CK_MAX_DEVICES 32

typedef struct ck_devices {
    int n;
    crease_device *dev[CK_MAX_DEVICES];
} ck_devices;

/* Opens device i of every loaded plugin ("name:i").  A device that is
 * listed but does not open fails the calling test.  Call it in the process
 * that runs the test (a checked fixture), not in main() before Check
 * forks: driver threads do not survive fork(). */
static inline void ck_devices_open(ck_devices *d)
{
    d->n = 0;
    ck_assert_int_eq(crease_plugins_load(), CREASE_OK);
    for (int i = 0; i < crease_plugin_count(); i++) {
        const struct crease_loaded_plugin *lp = crease__plugin(i);
        ck_assert_ptr_nonnull(lp);
        int count = lp->p->device_count();
        for (int j = 0; j < count && d->n < CK_MAX_DEVICES; j++) {
            char name[96];
            snprintf(name, sizeof name, "%s:%d", lp->p->name, j);
            crease_device *dev = NULL;
            int st = crease_device_open(name, &dev);
            ck_assert_msg(st == CREASE_OK, "cannot open %s: %s (%s)", name,
                          crease_status_str(st), crease_last_error());
            d->dev[d->n++] = dev;
        }
    }
}

static inline void ck_devices_close(ck_devices *d)
{
    for (int i = 0; i < d->n; i++)
        crease_device_free(d->dev[i]);
    d->n = 0;
}

/* Prints one line per device that the sweep will cover. */
static inline int ck_devices_print(FILE *f)
{
    int total = 0;
    if (crease_plugins_load() != CREASE_OK)
        return 0;
    for (int i = 0; i < crease_plugin_count(); i++) {
        const struct crease_loaded_plugin *lp = crease__plugin(i);
        int count = lp->p->device_count();
        for (int j = 0; j < count; j++) {
            struct crease_device_info info;
            memset(&info, 0, sizeof info);
            info.size = sizeof info;
            crease_plugin_device_info(i, j, &info);
            const char *variant = lp->p->variant ? lp->p->variant : "";
            fprintf(f, "testing device %s:%d%s%s%s: %s [%s, %d compute units]\n", lp->p->name,
                    j, *variant ? " (" : "", variant, *variant ? ")" : "", info.name, info.type,
                    info.compute_units);
            total++;
        }
    }
    return total;
}

/* ----------------------------------------------------- guarded buffers */

/* An output buffer has CK_GUARD floats after the region an op may write,
 * filled with a sentinel that must survive the op. */
#define CK_GUARD 37
#define CK_SENTINEL 0x4b3c2d1fu /* a finite float no op here produces */

typedef struct ck_buf {
    crease_device *dev;
    crease_buf *b;
    size_t n;     /* floats an op may use */
    size_t guard; /* sentinel floats after them */
} ck_buf;

static inline float ck_sentinel(void)
{
    uint32_t u = CK_SENTINEL;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* n usable floats plus `guard` sentinel floats, all set to the sentinel. */
static inline ck_buf ck_buf_new(crease_device *dev, size_t n, size_t guard)
{
    ck_buf cb = {dev, NULL, n, guard};
    size_t total = n + guard;
    int st = dev->ops->buf_alloc(dev->ctx, (total ? total : 1) * sizeof(float), &cb.b);
    ck_assert_msg(st == CREASE_OK, "%s: buf_alloc(%zu floats): %s", dev->name, total,
                  crease_last_error());
    if (total) {
        float *tmp = ck_alloc_floats(total);
        float s = ck_sentinel();
        for (size_t i = 0; i < total; i++)
            tmp[i] = s;
        ck_assert_int_eq(dev->ops->buf_write(dev->ctx, cb.b, 0, total * sizeof(float), tmp),
                         CREASE_OK);
        free(tmp);
    }
    return cb;
}

/* an input buffer holding exactly n floats from src (no guard, so a
 * sanitizer sees reads past its end) */
static inline ck_buf ck_buf_from(crease_device *dev, const float *src, size_t n)
{
    ck_buf cb = ck_buf_new(dev, n, 0);
    if (n)
        ck_assert_int_eq(dev->ops->buf_write(dev->ctx, cb.b, 0, n * sizeof(float), src),
                         CREASE_OK);
    return cb;
}

static inline void ck_buf_put(ck_buf *cb, const float *src, size_t n)
{
    ck_assert(n <= cb->n);
    if (n)
        ck_assert_int_eq(cb->dev->ops->buf_write(cb->dev->ctx, cb->b, 0, n * sizeof(float), src),
                         CREASE_OK);
}

static inline void ck_buf_get(const ck_buf *cb, float *dst, size_t n)
{
    ck_assert(n <= cb->n + cb->guard);
    if (n)
        ck_assert_int_eq(cb->dev->ops->buf_read(cb->dev->ctx, cb->b, 0, n * sizeof(float), dst),
                         CREASE_OK);
}

/* Fails unless the guard after the usable region still holds the sentinel. */
static inline void ck_buf_check_guard(const ck_buf *cb, const char *what)
{
    if (!cb->guard)
        return;
    float *tmp = ck_alloc_floats(cb->guard);
    ck_assert_int_eq(cb->dev->ops->buf_read(cb->dev->ctx, cb->b, cb->n * sizeof(float),
                                            cb->guard * sizeof(float), tmp),
                     CREASE_OK);
    /* one assertion, not one per float: a passing ck_assert is not free */
    size_t bad = cb->guard;
    for (size_t i = 0; i < cb->guard && bad == cb->guard; i++) {
        uint32_t u;
        memcpy(&u, &tmp[i], sizeof u);
        if (u != CK_SENTINEL)
            bad = i;
    }
    double v = bad < cb->guard ? (double)tmp[bad] : 0.0;
    free(tmp);
    ck_assert_msg(bad == cb->guard, "%s: %s wrote past the end of its output "
                  "(guard float %zu after %zu used floats is now %g)",
                  cb->dev->name, what, bad, cb->n, v);
}

static inline void ck_buf_free(ck_buf *cb)
{
    if (cb->b)
        cb->dev->ops->buf_free(cb->dev->ctx, cb->b);
    cb->b = NULL;
}

#endif
