/* check_regions.c -- exact linear-region counting against nets whose count
 * is known (lines in general position, parallel lines, lines through one
 * point, dead neurons, lines that miss the square, hand-built deep nets),
 * the theoretical bounds on random nets, an independent count of line
 * arrangements, the grid count as a lower bound, the PyTorch reference
 * models (accuracy on Baarle, counts and times), and the PNG pictures. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_common.h"
#include "internal.h"

static crease_device *dev;
static char tmpdir[4096];

static void setup(void)
{
    int st = crease_device_open(NULL, &dev);
    ck_assert_msg(st == CREASE_OK, "cannot open the default device: %s", crease_last_error());
    ck_assert_msg(ck_make_tmpdir(tmpdir, sizeof tmpdir, "crease-regions") != NULL,
                  "cannot make a temporary directory: %s", strerror(errno));
}

static void teardown(void)
{
    ck_remove_tree(tmpdir);
    crease_device_free(dev);
    dev = NULL;
}

/* ---------------------------------------------------------- net helpers */

/* A 2-n-2 ReLU net whose hidden neuron j is relu(a[j] x + b[j] y + c[j]). */
static crease_net *one_layer(int n, const float *a, const float *b, const float *c)
{
    char spec[64];
    snprintf(spec, sizeof spec, "2-%d-2", n);
    crease_net *net = NULL;
    ck_assert_int_eq(crease_net_new(dev, spec, NULL, &net), CREASE_OK);
    float *w = ck_alloc_floats((size_t)2 * n);
    for (int j = 0; j < n; j++) {
        w[2 * j] = a[j];
        w[2 * j + 1] = b[j];
    }
    ck_assert_int_eq(crease_net_set_layer(net, 0, w, c), CREASE_OK);
    free(w);
    return net;
}

/* Sum of the areas of the cells of every layer (each must tile the square). */
typedef struct area_acc {
    double area[CREASE_REGIONS_MAX_HIDDEN];
    size_t cells[CREASE_REGIONS_MAX_HIDDEN];
    int bad_orientation;
} area_acc;

static int add_area(const crease_region_cell *c, void *user)
{
    area_acc *a = user;
    double s = 0;
    for (int i = 0; i < c->nverts; i++) {
        int j = (i + 1) % c->nverts;
        s += c->xy[2 * i] * c->xy[2 * j + 1] - c->xy[2 * j] * c->xy[2 * i + 1];
    }
    if (s <= 0)
        a->bad_orientation++;
    if (c->layer >= 0) {
        a->area[c->layer] += 0.5 * s;
        a->cells[c->layer]++;
    }
    return 0;
}

/* Counts regions and checks what must always hold: patterns == cells, the
 * cells tile the square in every layer, counts never shrink with depth,
 * never pass the upper bound, and the grid never sees more. */
static crease_regions_result count_checked(crease_net *net, int grid)
{
    crease_regions_result r;
    int st = crease_regions_count(net, NULL, &r);
    ck_assert_msg(st == CREASE_OK, "count: %s", crease_last_error());
    ck_assert(r.complete);
    area_acc acc;
    memset(&acc, 0, sizeof acc);
    crease_regions_result r2;
    ck_assert_int_eq(crease_regions_foreach(net, NULL, add_area, &acc, &r2), CREASE_OK);
    ck_assert_int_eq(acc.bad_orientation, 0);
    size_t g[CREASE_REGIONS_MAX_HIDDEN];
    if (grid)
        ck_assert_int_eq(crease_regions_sample(net, NULL, grid, g), CREASE_OK);
    for (int l = 0; l < r.hidden; l++) {
        ck_assert_uint_eq(r.cells[l], r2.cells[l]);
        ck_assert_uint_eq(acc.cells[l], r.cells[l]);
        ck_assert_msg(fabs(acc.area[l] - 4.0) < 1e-9, "layer %d cells cover %.12f, not 4", l,
                      acc.area[l]);
        ck_assert_msg(r.patterns[l] == r.cells[l], "layer %d: %zu patterns, %zu cells", l,
                      r.patterns[l], r.cells[l]);
        ck_assert_msg((double)r.cells[l] <= r.upper[l], "layer %d: %zu cells above the bound %g",
                      l, r.cells[l], r.upper[l]);
        if (l)
            ck_assert(r.cells[l] >= r.cells[l - 1]);
        if (grid)
            ck_assert_msg(g[l] <= r.cells[l], "layer %d: grid %zu > exact %zu", l, g[l],
                          r.cells[l]);
    }
    return r;
}

static size_t count1(crease_net *net)
{
    crease_regions_result r = count_checked(net, 64);
    return r.regions;
}

/* Independent count for one layer of lines in general position: a convex
 * domain cut by lines gives 1 + (lines crossing it) + (crossings inside).
 * If sep is not NULL it gets the smallest distance between two crossings
 * inside, or between a crossing and the border, or between a line and a
 * corner: below about 1e-6 the count's sliver tolerance may merge cells
 * (see crease.h), and the two counts need not agree. */
static size_t arrangement_count(int n, const double *a, const double *b, const double *c,
                                double *sep)
{
    static const double corner[4][2] = {{-1, -1}, {1, -1}, {1, 1}, {-1, 1}};
    size_t count = 1, np = 0;
    double *pts = sep ? ck_alloc_doubles((size_t)n * (size_t)n + 1) : NULL;
    double best = INFINITY;
    for (int j = 0; j < n; j++) {
        int pos = 0, neg = 0;
        for (int k = 0; k < 4; k++) {
            double v = a[j] * corner[k][0] + b[j] * corner[k][1] + c[j];
            pos |= v > 0;
            neg |= v < 0;
            double nrm = hypot(a[j], b[j]);
            if (nrm > 0)
                best = fmin(best, fabs(v) / nrm);
        }
        count += pos && neg;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double det = a[i] * b[j] - a[j] * b[i];
            if (det == 0)
                continue;
            double x = (b[i] * c[j] - b[j] * c[i]) / det;
            double y = (a[j] * c[i] - a[i] * c[j]) / det;
            if (fabs(x) < 1 && fabs(y) < 1) {
                count++;
                if (pts) {
                    best = fmin(best, fmin(1 - fabs(x), 1 - fabs(y)));
                    pts[2 * np] = x;
                    pts[2 * np + 1] = y;
                    np++;
                }
            }
        }
    if (sep) {
        for (size_t i = 0; i < np; i++)
            for (size_t j = i + 1; j < np; j++)
                best = fmin(best, hypot(pts[2 * i] - pts[2 * j], pts[2 * i + 1] - pts[2 * j + 1]));
        *sep = best;
    }
    free(pts);
    return count;
}

/* --------------------------------------------------------- known counts */

START_TEST(test_general_position)
{
    static const int ns[] = {1, 2, 3, 5, 8, 12, 20};
    ck_rng r;
    ck_rng_seed(&r, 11);
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        int n = ns[t];
        float a[20], b[20], c[20];
        double da[20], db[20], dc[20];
        for (int j = 0; j < n; j++) {
            /* through a point near the centre, directions spread over pi,
             * so every crossing lies well inside and no three meet */
            double th = M_PI * j / n + 0.02 * (ck_rng_uniform(&r) - 0.5);
            double px = 0.04 * (ck_rng_uniform(&r) - 0.5), py = 0.04 * (ck_rng_uniform(&r) - 0.5);
            a[j] = (float)cos(th);
            b[j] = (float)sin(th);
            c[j] = (float)-(a[j] * px + b[j] * py);
            da[j] = a[j];
            db[j] = b[j];
            dc[j] = c[j];
        }
        size_t expect = 1 + (size_t)n + (size_t)n * (n - 1) / 2;
        double sep;
        ck_assert_uint_eq(arrangement_count(n, da, db, dc, &sep), expect);
        ck_assert(sep > 1e-6);
        crease_net *net = one_layer(n, a, b, c);
        size_t got = count1(net);
        ck_assert_msg(got == expect, "%d lines in general position: %zu regions, expected %zu",
                      n, got, expect);
        crease_regions_result res;
        ck_assert_int_eq(crease_regions_count(net, NULL, &res), CREASE_OK);
        ck_assert_double_eq(res.upper_bound, (double)expect); /* Zaslavsky is reached */
        crease_net_free(net);
    }
}
END_TEST

START_TEST(test_parallel_lines)
{
    for (int n = 1; n <= 12; n++) {
        float a[12], b[12], c[12];
        /* x = t_k, vertical */
        for (int k = 0; k < n; k++) {
            a[k] = 1;
            b[k] = 0;
            c[k] = -(float)(-0.9 + 1.8 * (k + 0.5) / n);
        }
        crease_net *net = one_layer(n, a, b, c);
        ck_assert_uint_eq(count1(net), (size_t)n + 1);
        crease_net_free(net);
        /* x + y = t_k, diagonal, some pointing the other way */
        for (int k = 0; k < n; k++) {
            float s = k % 2 ? -1.0f : 1.0f;
            a[k] = s;
            b[k] = s;
            c[k] = -s * (float)(-1.8 + 3.6 * (k + 0.5) / n);
        }
        net = one_layer(n, a, b, c);
        ck_assert_uint_eq(count1(net), (size_t)n + 1);
        crease_net_free(net);
    }
}
END_TEST

START_TEST(test_concurrent_lines)
{
    for (int n = 1; n <= 16; n++) {
        float a[16], b[16], c[16];
        for (int k = 0; k < n; k++) {
            double th = M_PI * k / n;
            a[k] = (float)cos(th);
            b[k] = (float)sin(th);
            c[k] = 0;
        }
        crease_net *net = one_layer(n, a, b, c);
        ck_assert_uint_eq(count1(net), 2 * (size_t)n);
        crease_net_free(net);
        /* through (0.25, -0.5) instead of the centre: still 2n */
        for (int k = 0; k < n; k++)
            c[k] = -(a[k] * 0.25f + b[k] * -0.5f);
        net = one_layer(n, a, b, c);
        ck_assert_uint_eq(count1(net), 2 * (size_t)n);
        crease_net_free(net);
    }
}
END_TEST

START_TEST(test_dead_and_missing)
{
    /* x = 0 and y = 0 cut the square in four; nothing else may cut */
    const float a[] = {1, 0, 0, 0.1f, 1, 1, 0, -1};
    const float b[] = {0, 1, 0, 0.1f, 0, 1, 2, 0};
    const float c[] = {0, 0, -1, -5, -1.5f, -2, 0, -1};
    /* 2: zero weights, negative bias: never active;
     * 3: active nowhere in the square (0.1 x + 0.1 y <= 0.2 < 5);
     * 4: the line x = 1.5 misses the square;
     * 5: x + y = 2 only touches the corner (1, 1);
     * 6: 2 y = 0, the same line as neuron 1 (coincident);
     * 7: -x - 1 = 0 is the square's left edge */
    crease_net *net = one_layer(8, a, b, c);
    crease_regions_result r = count_checked(net, 64);
    ck_assert_uint_eq(r.regions, 4);
    ck_assert_uint_eq(r.activation_patterns, 4);
    crease_net_free(net);

    /* only dead neurons: the square stays whole */
    const float a2[] = {0, 0.1f, 1};
    const float b2[] = {0, 0.1f, 0};
    const float c2[] = {0, -5, 3};
    net = one_layer(3, a2, b2, c2);
    ck_assert_uint_eq(count1(net), 1);
    crease_net_free(net);
}
END_TEST

/* 2-2-2-2: h = (relu(x), relu(y)), then g1 = act(h1 - 0.5) and
 * g2 = act(h1 + h2 - 0.5).  ReLU: the quadrant x>0,y>0 is cut by x = 0.5 and
 * by x + y = 0.5 (which only touches the right piece at (0.5, 0)): 3 cells;
 * x>0,y<0: g1 and g2 share the line x = 0.5: 2; x<0,y>0: g2 is y = 0.5: 2;
 * x<0,y<0: 1.  Total 8.  Leaky (alpha 0.1): h1 = 0.1 x for x<0 and so on;
 * x>0,y<0 gets x = 0.5 and x = 0.5 - 0.1 y (meeting on its border): 3;
 * the others as before: 3 + 3 + 2 + 1 = 9. */
static crease_net *fold_net(int leaky)
{
    crease_net_opts o;
    crease_net_opts_default(&o);
    if (leaky) {
        o.act = CREASE_ACT_LEAKY_RELU;
        o.leaky_alpha = 0.1f;
    }
    crease_net *net = NULL;
    ck_assert_int_eq(crease_net_new(dev, "2-2-2-2", &o, &net), CREASE_OK);
    const float w0[] = {1, 0, 0, 1}, b0[] = {0, 0};
    const float w1[] = {1, 0, 1, 1}, b1[] = {-0.5f, -0.5f};
    ck_assert_int_eq(crease_net_set_layer(net, 0, w0, b0), CREASE_OK);
    ck_assert_int_eq(crease_net_set_layer(net, 1, w1, b1), CREASE_OK);
    return net;
}

START_TEST(test_two_layer_known)
{
    crease_net *net = fold_net(0);
    crease_regions_result r = count_checked(net, 256);
    ck_assert_int_eq(r.hidden, 2);
    ck_assert_uint_eq(r.cells[0], 4);
    ck_assert_uint_eq(r.cells[1], 8);
    size_t g[2];
    ck_assert_int_eq(crease_regions_sample(net, NULL, 512, g), CREASE_OK);
    ck_assert_uint_eq(g[0], 4);
    ck_assert_uint_eq(g[1], 8); /* every cell is wide enough for this grid */
    ck_assert_double_eq(r.upper_bound, 11.0); /* Serra et al. for 2-2-2 */
    crease_net_free(net);

    net = fold_net(1);
    r = count_checked(net, 256);
    ck_assert_uint_eq(r.cells[0], 4);
    ck_assert_uint_eq(r.cells[1], 9);
    ck_assert_double_eq(r.upper_bound, 16.0); /* leaky: 4 x 4 */
    crease_net_free(net);
}
END_TEST

/* ----------------------------------------------------- random networks */

static crease_net *random_net(const char *spec, uint64_t seed, int leaky)
{
    crease_net_opts o;
    crease_net_opts_default(&o);
    o.seed = seed;
    if (leaky) {
        o.act = CREASE_ACT_LEAKY_RELU;
        o.leaky_alpha = 0.2f;
    }
    crease_net *net = NULL;
    ck_assert_int_eq(crease_net_new(dev, spec, &o, &net), CREASE_OK);
    /* spread the biases so that lines cross the square everywhere */
    ck_rng r;
    ck_rng_seed(&r, seed * 7919 + 1);
    for (int l = 0; l + 1 < crease_net_layers(net); l++) {
        int in, out;
        crease_net_layer_shape(net, l, &in, &out);
        float *b = ck_alloc_floats((size_t)out);
        ck_fill_uniform(&r, b, (size_t)out, -0.8f, 0.8f);
        ck_assert_int_eq(crease_net_set_layer(net, l, NULL, b), CREASE_OK);
        free(b);
    }
    return net;
}

START_TEST(test_one_layer_random)
{
    static const int widths[] = {1, 2, 3, 4, 7, 16, 32, 64};
    int near_degenerate = 0;
    for (int seed = 1; seed <= 40; seed++)
        for (size_t t = 0; t < sizeof widths / sizeof widths[0]; t++) {
            int n = widths[t];
            char spec[32];
            snprintf(spec, sizeof spec, "2-%d-2", n);
            crease_net *net = random_net(spec, (uint64_t)seed, 0);
            crease_regions_result r = count_checked(net, 48);
            ck_assert(r.regions <= 1 + (size_t)n + (size_t)n * (n - 1) / 2);
            /* the same number from the line arrangement */
            float *w = ck_alloc_floats((size_t)2 * n), *b = ck_alloc_floats((size_t)n);
            double *da = ck_alloc_doubles((size_t)n), *db = ck_alloc_doubles((size_t)n),
                   *dc = ck_alloc_doubles((size_t)n);
            ck_assert_int_eq(crease_net_get_layer(net, 0, w, b), CREASE_OK);
            for (int j = 0; j < n; j++) {
                da[j] = w[2 * j];
                db[j] = w[2 * j + 1];
                dc[j] = b[j];
            }
            double sep;
            size_t expect = arrangement_count(n, da, db, dc, &sep);
            /* tolerances only ever merge; in a well-separated arrangement
             * the two counts must agree exactly */
            ck_assert_msg(r.regions <= expect, "seed %d, %s: %zu regions, arrangement says %zu",
                          seed, spec, r.regions, expect);
            if (sep > 1e-6)
                ck_assert_msg(r.regions == expect, "seed %d, %s: %zu regions, arrangement says "
                              "%zu (separation %g)", seed, spec, r.regions, expect, sep);
            else
                near_degenerate++;
            free(w);
            free(b);
            free(da);
            free(db);
            free(dc);
            crease_net_free(net);
        }
    printf("one layer, random: %d of %zu nets nearly degenerate (crossings closer than 1e-6)\n",
           near_degenerate, 40 * sizeof widths / sizeof widths[0]);
    ck_assert(near_degenerate < 10);
}
END_TEST

START_TEST(test_deep_random)
{
    static const char *specs[] = {"2-2-2-2", "2-3-3-2", "2-4-4-4-2", "2-8-8-2", "2-16-16-2",
                                  "2-6-12-6-2", "2-16-8-16-8-2", "2-1-8-2", "2-8-1-8-2"};
    for (int seed = 1; seed <= 12; seed++)
        for (size_t t = 0; t < sizeof specs / sizeof specs[0]; t++)
            for (int leaky = 0; leaky < 2; leaky++) {
                crease_net *net = random_net(specs[t], (uint64_t)seed, leaky);
                count_checked(net, 48);
                crease_net_free(net);
            }
}
END_TEST

/* --------------------------------------------------------------- bounds */

START_TEST(test_bounds)
{
    double up, lo;
    for (int n = 1; n <= 600; n++) {
        ck_assert_int_eq(crease_regions_bounds(2, 1, &n, CREASE_ACT_RELU, &up, &lo), CREASE_OK);
        ck_assert_double_eq(up, 1.0 + n + n * (n - 1) / 2.0);
        ck_assert_double_eq(lo, up);
        ck_assert_int_eq(crease_regions_bounds(1, 1, &n, CREASE_ACT_RELU, &up, NULL), CREASE_OK);
        ck_assert_double_eq(up, n + 1.0);
    }
    /* 2-2-2 by hand from Theorem 1: 4 + 2 * 3 + 1 = 11 */
    int w22[] = {2, 2};
    ck_assert_int_eq(crease_regions_bounds(2, 2, w22, CREASE_ACT_RELU, &up, &lo), CREASE_OK);
    ck_assert_double_eq(up, 11.0);
    ck_assert_double_eq(lo, 4.0);
    ck_assert_int_eq(crease_regions_bounds(2, 2, w22, CREASE_ACT_LEAKY_RELU, &up, &lo), CREASE_OK);
    ck_assert_double_eq(up, 16.0);
    /* wide layers: no bottleneck, the bound is the product */
    int w88[] = {8, 8};
    ck_assert_int_eq(crease_regions_bounds(2, 2, w88, CREASE_ACT_RELU, &up, &lo), CREASE_OK);
    ck_assert_double_eq(up, 37.0 * 37.0);
    ck_assert_double_eq(lo, 25.0 * 37.0); /* (floor(8/2)+1)^2 * 37 */
    /* a width-1 layer: j_1 = 1 leaves min 0 for later layers; j_1 = 0 keeps 1 */
    int w18[] = {1, 8};
    ck_assert_int_eq(crease_regions_bounds(2, 2, w18, CREASE_ACT_RELU, &up, &lo), CREASE_OK);
    ck_assert_double_eq(up, 1.0 * 9 + 1.0 * 1); /* (j1=0: 1+8) + (j1=1: 1) */
    ck_assert_double_eq(lo, 2.0);                /* the first layer alone */
    /* 4 x 64 */
    int w64[] = {64, 64, 64, 64};
    ck_assert_int_eq(crease_regions_bounds(2, 4, w64, CREASE_ACT_RELU, &up, &lo), CREASE_OK);
    ck_assert(fabs(lo - 1089.0 * 1089 * 1089 * 2081) < 1);
    ck_assert(fabs(up / pow(2081.0, 4) - 1) < 1e-12);
    /* huge: reported as HUGE_VAL, not wrapped */
    int big[60];
    for (int i = 0; i < 60; i++)
        big[i] = 60000;
    ck_assert_int_eq(crease_regions_bounds(2, 60, big, CREASE_ACT_RELU, &up, &lo), CREASE_OK);
    ck_assert(isinf(up) && isinf(lo));
    /* bad input */
    ck_assert_int_eq(crease_regions_bounds(0, 1, w22, CREASE_ACT_RELU, &up, &lo), CREASE_EINVAL);
    ck_assert_int_eq(crease_regions_bounds(2, 1, NULL, CREASE_ACT_RELU, &up, &lo), CREASE_EINVAL);
    int zero = 0;
    ck_assert_int_eq(crease_regions_bounds(2, 1, &zero, CREASE_ACT_RELU, &up, &lo), CREASE_EINVAL);
    ck_assert_int_eq(crease_regions_bounds(2, 1, w22, CREASE_ACT_TANH, &up, &lo),
                     CREASE_EUNSUPPORTED);
}
END_TEST

/* ---------------------------------------------------------------- errors */

static int stop_after_three(const crease_region_cell *c, void *user)
{
    (void)c;
    return ++*(int *)user >= 3;
}

START_TEST(test_errors_and_limits)
{
    crease_regions_result r;
    size_t g[4];
    crease_net *net = NULL;
    ck_assert_int_eq(crease_net_new(dev, "3-4-2", NULL, &net), CREASE_OK);
    ck_assert_int_eq(crease_regions_count(net, NULL, &r), CREASE_EINVAL);
    ck_assert_error_has("3 inputs");
    ck_assert_int_eq(crease_regions_sample(net, NULL, 16, g), CREASE_EINVAL);
    crease_net_free(net);

    crease_net_opts o;
    crease_net_opts_default(&o);
    o.act = CREASE_ACT_TANH;
    ck_assert_int_eq(crease_net_new(dev, "2-4-2", &o, &net), CREASE_OK);
    ck_assert_int_eq(crease_regions_count(net, NULL, &r), CREASE_EUNSUPPORTED);
    ck_assert_error_has("tanh");
    crease_net_free(net);

    ck_assert_int_eq(crease_regions_count(NULL, NULL, &r), CREASE_EINVAL);

    /* no hidden layer: one affine piece */
    ck_assert_int_eq(crease_net_new(dev, "2-2", NULL, &net), CREASE_OK);
    ck_assert_int_eq(crease_regions_count(net, NULL, &r), CREASE_OK);
    ck_assert_int_eq(r.hidden, 0);
    ck_assert_uint_eq(r.regions, 1);
    ck_assert_int_eq(crease_regions_sample(net, NULL, 8, g), CREASE_OK);
    ck_assert_uint_eq(g[0], 1);
    crease_net_free(net);

    net = random_net("2-32-32-2", 5, 0);
    ck_assert_int_eq(crease_regions_count(net, NULL, NULL), CREASE_EINVAL);
    crease_regions_opts ro;
    crease_regions_opts_default(&ro);
    ro.xmin = 1;
    ck_assert_int_eq(crease_regions_count(net, &ro, &r), CREASE_EINVAL);
    ck_assert_int_eq(crease_regions_sample(net, NULL, 0, g), CREASE_EINVAL);
    /* a cell limit is not an error, but the result says so */
    crease_regions_opts_default(&ro);
    ro.max_cells = 10;
    ck_assert_int_eq(crease_regions_count(net, &ro, &r), CREASE_OK);
    ck_assert_int_eq(r.complete, 0);
    /* nor is a callback that stops the walk */
    int seen = 0;
    ck_assert_int_eq(crease_regions_foreach(net, NULL, stop_after_three, &seen, &r), CREASE_OK);
    ck_assert_int_eq(seen, 3);
    ck_assert_int_eq(r.complete, 0);
    ck_assert_int_eq(r.stopped_by_callback, 1);
    /* a smaller domain has no more regions */
    crease_regions_result whole;
    ck_assert_int_eq(crease_regions_count(net, NULL, &whole), CREASE_OK);
    crease_regions_opts_default(&ro);
    ro.xmin = -0.5;
    ro.xmax = 0.25;
    ro.ymin = 0;
    ck_assert_int_eq(crease_regions_count(net, &ro, &r), CREASE_OK);
    ck_assert(r.complete && r.regions >= 1 && r.regions < whole.regions);
    crease_net_free(net);
}
END_TEST

/* ----------------------------------------------------- reference models */

static const char *shared_data(void)
{
    const char *d = getenv("CREASE_SHARED_DATA");
    return d && *d ? d : NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_reference_models)
{
    char dir[4096];
    const char *sd = shared_data();
    DIR *d = NULL;
    if (sd) {
        snprintf(dir, sizeof dir, "%s/baarle/reference-models", sd);
        d = opendir(dir);
    }
    if (!d) {
        printf("SKIP reference models: %s not found\n", sd ? dir : "$CREASE_SHARED_DATA");
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64)
        if (ends_with(e->d_name, ".safetensors"))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    ck_assert_msg(n >= 1, "no reference models in %s", dir);

    crease_dataset *data = NULL;
    ck_assert_int_eq(crease_dataset_load_baarle(NULL, &data), CREASE_OK);
    printf("%-34s %7s %10s %10s %10s %12s %12s %8s\n", "reference model", "bal.acc", "regions",
           "patterns", "grid 512", "upper", "lower", "seconds");
    for (int i = 0; i < n; i++) {
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        crease_net *net = NULL;
        int st = crease_net_load(dev, path, NULL, &net);
        ck_assert_msg(st == CREASE_OK, "%s: %s", path, crease_last_error());
        crease_metrics m;
        ck_assert_int_eq(crease_net_eval(net, data, &m), CREASE_OK);
        crease_regions_result r;
        ck_assert_int_eq(crease_regions_count(net, NULL, &r), CREASE_OK);
        size_t g[CREASE_REGIONS_MAX_HIDDEN];
        ck_assert_int_eq(crease_regions_sample(net, NULL, 512, g), CREASE_OK);
        printf("%-34s %7.4f %10zu %10zu %10zu %12.4g %12.4g %8.3f\n", names[i],
               m.balanced_accuracy, r.regions, r.activation_patterns, g[r.hidden - 1],
               r.upper_bound, r.lower_bound, r.seconds);
        for (int l = 0; r.hidden > 1 && l < r.hidden; l++)
            printf("    after layer %d (%3d): %8zu cells, %8zu patterns, grid %8zu, bounds "
                   "[%.4g, %.4g]\n", l + 1, r.widths[l], r.cells[l], r.patterns[l], g[l],
                   r.lower[l], r.upper[l]);
        fflush(stdout);
        ck_assert(r.complete);
        ck_assert_msg(r.seconds < 10.0, "%s: counting took %.1f s", names[i], r.seconds);
        ck_assert((double)r.regions <= r.upper_bound);
        ck_assert_uint_eq(r.regions, r.activation_patterns);
        for (int l = 0; l < r.hidden; l++)
            ck_assert(g[l] <= r.cells[l]);
        /* sensible classifiers: every one beats chance clearly, the deep
         * ones (3+ hidden layers of 16+) are near perfect */
        ck_assert_msg(m.balanced_accuracy > 0.75, "%s: balanced accuracy %.4f", names[i],
                      m.balanced_accuracy);
        if (r.hidden >= 3)
            ck_assert_msg(m.balanced_accuracy > 0.9, "%s: balanced accuracy %.4f", names[i],
                          m.balanced_accuracy);
        if (r.hidden == 1) {
            /* the independent count of the line arrangement */
            int w = r.widths[0];
            float *wt = ck_alloc_floats((size_t)2 * w), *b = ck_alloc_floats((size_t)w);
            double *da = ck_alloc_doubles((size_t)w), *db = ck_alloc_doubles((size_t)w),
                   *dc = ck_alloc_doubles((size_t)w);
            ck_assert_int_eq(crease_net_get_layer(net, 0, wt, b), CREASE_OK);
            for (int j = 0; j < w; j++) {
                da[j] = wt[2 * j];
                db[j] = wt[2 * j + 1];
                dc[j] = b[j];
            }
            /* trained nets gather lines through nearly one point; the
             * cells there smaller than float32 resolves (area < 1e-12)
             * are merged, so the exact count is a little below the
             * general-position count */
            size_t arr = arrangement_count(w, da, db, dc, NULL);
            printf("    line arrangement in general position: %zu (%zu tiny cells merged)\n", arr,
                   arr - r.regions);
            ck_assert(r.regions <= arr && (double)(arr - r.regions) <= 0.005 * (double)arr);
            /* with tolerances far below those cells' size, every one counts */
            crease_regions_opts tight;
            crease_regions_opts_default(&tight);
            tight.dist_eps = 1e-13;
            tight.area_eps = 1e-20;
            crease_regions_result rt;
            ck_assert_int_eq(crease_regions_count(net, &tight, &rt), CREASE_OK);
            printf("    with dist_eps 1e-13, area_eps 1e-20: %zu regions\n", rt.regions);
            ck_assert_uint_eq(rt.regions, arr);
            free(wt);
            free(b);
            free(da);
            free(db);
            free(dc);
        }
        if (!strcmp(names[i], "baarle-2_2_1.safetensors"))
            ck_assert_uint_eq(r.regions, 11); /* reaches the bound of 2-2-2 */
        crease_net_free(net);
        free(names[i]);
    }
    crease_dataset_free(data);
}
END_TEST

/* --------------------------------------------------------------- images */

/* Reads a PNG back with libpng; returns 0 and its size if it is valid. */
static int png_size(const char *path, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return -1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_bytep row = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(row);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    *w = (int)png_get_image_width(png, info);
    *h = (int)png_get_image_height(png, info);
    /* decode every row: a truncated or corrupt file fails here */
    row = malloc(png_get_rowbytes(png, info));
    for (int y = 0; y < *h; y++)
        png_read_row(png, row, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(row);
    fclose(f);
    return 0;
}

static void assert_png(const char *path, int w, int h)
{
    int gw = 0, gh = 0;
    ck_assert_msg(png_size(path, &gw, &gh) == 0, "%s is not a valid PNG", path);
    ck_assert_msg(gw == w && gh == h, "%s is %dx%d, expected %dx%d", path, gw, gh, w, h);
}

/* Nothing but the expected files in tmpdir (no temporary left behind). */
static void assert_no_temp(int expect_files)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        ck_assert_msg(strstr(e->d_name, ".tmp") == NULL, "temporary %s left behind", e->d_name);
        files++;
    }
    closedir(d);
    ck_assert_int_eq(files, expect_files);
}

/* The RGB pixel (x, y) of a PNG, read with libpng's simplified API. */
static void png_pixel(const char *path, int x, int y, int rgb[3])
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&im, path), "%s: %s", path, im.message);
    im.format = PNG_FORMAT_RGB;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(im));
    ck_assert_ptr_nonnull(px);
    ck_assert_msg(png_image_finish_read(&im, NULL, px, 0, NULL), "%s: %s", path, im.message);
    ck_assert(x >= 0 && y >= 0 && x < (int)im.width && y < (int)im.height);
    const unsigned char *p = px + 3 * ((size_t)y * im.width + (size_t)x);
    for (int c = 0; c < 3; c++)
        rgb[c] = p[c];
    free(px);
}

/* Decision picture of non-Baarle data: the points in their class colours
 * over a plain ground (no Baarle mask), at the places the domain puts them. */
START_TEST(test_points_picture)
{
    const float x[] = {-0.5f, 0.5f, 0.5f, -0.5f, 0.0f, 0.0f, 2.0f, 2.0f};
    const int lab[] = {0, 1, -1, 1};
    crease_dataset *d = NULL, *d3 = NULL;
    ck_assert_int_eq(crease_dataset_new(4, 2, 2, x, lab, &d), CREASE_OK);
    crease_net *net = random_net("2-8-2", 9, 0);
    crease_draw_opts o;
    crease_draw_opts_default(&o);
    o.size = 200;
    o.points = d;
    char p[4200];
    snprintf(p, sizeof p, "%s/points.png", tmpdir);
    ck_assert_int_eq(crease_draw_decision(net, p, &o), CREASE_OK);
    assert_png(p, 200, 200 + CREASE_DRAW_HEADER);
    int c0[3], c1[3], corner[3];
    /* (-0.5, 0.5) is pixel (50, 50) of the panel: class 0 (blue) */
    png_pixel(p, 50, CREASE_DRAW_HEADER + 50, c0);
    ck_assert_msg(c0[2] > 150 && c0[0] < 80, "class-0 dot is %d,%d,%d", c0[0], c0[1], c0[2]);
    /* (0.5, -0.5) is pixel (150, 150): class 1 (red) */
    png_pixel(p, 150, CREASE_DRAW_HEADER + 150, c1);
    ck_assert_msg(c1[0] > 180 && c1[2] < 80, "class-1 dot is %d,%d,%d", c1[0], c1[1], c1[2]);
    /* no point, no map: a light ground (the Baarle mask has yellow and
     * road lines; a wash is light) */
    png_pixel(p, 3, CREASE_DRAW_HEADER + 196, corner);
    ck_assert_msg(corner[0] > 200 && corner[1] > 200 && corner[2] > 200, "ground is %d,%d,%d",
                  corner[0], corner[1], corner[2]);
    /* a background map wins over the points: a plain green map, and no
     * red dot where the class-1 point is */
    char map[4200], p2[4200];
    snprintf(map, sizeof map, "%s/green-map.png", tmpdir);
    unsigned char green[16 * 16 * 3];
    for (int i = 0; i < 16 * 16; i++)
        green[3 * i] = 40, green[3 * i + 1] = 200, green[3 * i + 2] = 60;
    png_image gi;
    memset(&gi, 0, sizeof gi);
    gi.version = PNG_IMAGE_VERSION;
    gi.width = gi.height = 16;
    gi.format = PNG_FORMAT_RGB;
    ck_assert(png_image_write_to_file(&gi, map, 0, green, 0, NULL));
    o.background = map;
    snprintf(p2, sizeof p2, "%s/points-map.png", tmpdir);
    ck_assert_int_eq(crease_draw_decision(net, p2, &o), CREASE_OK);
    int onmap[3];
    png_pixel(p2, 150, CREASE_DRAW_HEADER + 150, onmap);
    ck_assert_msg(onmap[1] > onmap[0] || onmap[1] > 120, "map pixel is %d,%d,%d, not the map",
                  onmap[0], onmap[1], onmap[2]);
    ck_assert_int_eq(unlink(p2), 0);
    ck_assert_int_eq(unlink(map), 0);
    o.background = NULL;
    /* points that are not in the plane */
    const float x3[] = {0, 0, 0};
    const int l3[] = {0};
    ck_assert_int_eq(crease_dataset_new(1, 3, 2, x3, l3, &d3), CREASE_OK);
    o.points = d3;
    snprintf(p2, sizeof p2, "%s/points3.png", tmpdir);
    ck_assert_int_eq(crease_draw_decision(net, p2, &o), CREASE_EINVAL);
    ck_assert_ptr_nonnull(strstr(crease_last_error(), "3 features"));
    ck_assert_int_ne(access(p2, F_OK), 0);
    ck_assert_int_eq(unlink(p), 0);
    crease_dataset_free(d);
    crease_dataset_free(d3);
    crease_net_free(net);
}
END_TEST

START_TEST(test_images)
{
    char p[4200];
    crease_draw_opts o;
    crease_draw_opts_default(&o);
    o.size = 200;
    const int H = CREASE_DRAW_HEADER, G = CREASE_DRAW_GAP, C = CREASE_DRAW_CAPTION;

    crease_net *net = random_net("2-8-8-8-2", 3, 0);
    snprintf(p, sizeof p, "%s/decision.png", tmpdir);
    ck_assert_int_eq(crease_draw_decision(net, p, &o), CREASE_OK);
    assert_png(p, 200, 200 + H);
    snprintf(p, sizeof p, "%s/regions.png", tmpdir);
    ck_assert_int_eq(crease_draw_regions(net, p, &o), CREASE_OK);
    assert_png(p, 200, 200 + H);
    snprintf(p, sizeof p, "%s/layers.png", tmpdir);
    ck_assert_int_eq(crease_draw_region_layers(net, p, &o), CREASE_OK);
    assert_png(p, 3 * 200 + 4 * G, H + C + 200 + G);
    /* overwriting is fine and still leaves no temporary */
    ck_assert_int_eq(crease_draw_region_layers(net, p, &o), CREASE_OK);
    assert_no_temp(3);
    crease_net_free(net);

    /* five hidden layers wrap after four panels */
    net = random_net("2-4-4-4-4-4-2", 4, 1);
    o.size = 96;
    snprintf(p, sizeof p, "%s/layers5.png", tmpdir);
    ck_assert_int_eq(crease_draw_region_layers(net, p, &o), CREASE_OK);
    assert_png(p, 4 * 96 + 5 * G, H + 2 * (C + 96 + G));
    crease_net_free(net);

    /* default sizes, the map as background, more than two classes */
    const char *sd = shared_data();
    char map[4200];
    snprintf(map, sizeof map, "%s/baarle/baarle-map.png", sd ? sd : ".");
    net = random_net("2-16-16-3", 5, 0);
    crease_draw_opts_default(&o);
    if (sd && access(map, R_OK) == 0)
        o.background = map;
    else
        printf("SKIP map background: %s not found\n", map);
    snprintf(p, sizeof p, "%s/decision3.png", tmpdir);
    ck_assert_int_eq(crease_draw_decision(net, p, &o), CREASE_OK);
    assert_png(p, 800, 800 + H);
    crease_net_free(net);

    /* a tanh net has a decision picture but no regions */
    crease_net_opts no;
    crease_net_opts_default(&no);
    no.act = CREASE_ACT_TANH;
    ck_assert_int_eq(crease_net_new(dev, "2-8-2", &no, &net), CREASE_OK);
    crease_draw_opts_default(&o);
    o.size = 128;
    snprintf(p, sizeof p, "%s/tanh.png", tmpdir);
    ck_assert_int_eq(crease_draw_decision(net, p, &o), CREASE_OK);
    assert_png(p, 128, 128 + H);
    snprintf(p, sizeof p, "%s/tanh-regions.png", tmpdir);
    ck_assert_int_eq(crease_draw_regions(net, p, &o), CREASE_EUNSUPPORTED);
    ck_assert_int_ne(access(p, F_OK), 0);
    crease_net_free(net);

    /* curves */
    double loss[30], acc[30], loss2[7];
    for (int i = 0; i < 30; i++) {
        loss[i] = 0.7 * exp(-i / 6.0) + 0.05;
        acc[i] = 1 - 0.45 * exp(-i / 5.0);
    }
    for (int i = 0; i < 7; i++)
        loss2[i] = i == 3 ? NAN : 0.5 / (i + 1);
    crease_curve cv[2] = {{"deep", 30, loss, acc}, {NULL, 7, loss2, NULL}};
    snprintf(p, sizeof p, "%s/curves.png", tmpdir);
    ck_assert_int_eq(crease_draw_curves(p, 2, cv, NULL), CREASE_OK);
    assert_png(p, 1200, 520);
    crease_draw_opts_default(&o);
    o.width = 640;
    o.height = 360;
    crease_curve one = {"single epoch", 1, loss, acc};
    ck_assert_int_eq(crease_draw_curves(p, 1, &one, &o), CREASE_OK);
    assert_png(p, 640, 360);
    assert_no_temp(7);
}
END_TEST

START_TEST(test_image_errors)
{
    char p[4200];
    crease_net *net = random_net("2-8-8-2", 6, 0);
    crease_draw_opts o;
    crease_draw_opts_default(&o);
    o.size = 96;

    /* an unwritable place: a clear error naming the path, nothing written */
    const char *bad = "/nonexistent-crease-dir/x.png";
    ck_assert_int_eq(crease_draw_decision(net, bad, &o), CREASE_EIO);
    ck_assert_error_has(bad);
    ck_assert_int_eq(crease_draw_regions(net, bad, &o), CREASE_EIO);
    ck_assert_error_has(bad);
    ck_assert_int_eq(crease_draw_region_layers(net, bad, &o), CREASE_EIO);
    double v[3] = {1, 2, 3};
    crease_curve cv = {"x", 3, v, NULL};
    ck_assert_int_eq(crease_draw_curves(bad, 1, &cv, NULL), CREASE_EIO);
    ck_assert_error_has(bad);
    /* a directory in the way */
    ck_assert_int_eq(crease_draw_decision(net, tmpdir, &o), CREASE_EIO);

    /* bad arguments */
    snprintf(p, sizeof p, "%s/x.png", tmpdir);
    ck_assert_int_eq(crease_draw_decision(NULL, p, &o), CREASE_EINVAL);
    ck_assert_int_eq(crease_draw_regions(NULL, p, &o), CREASE_EINVAL);
    ck_assert_error_has("crease_draw_regions: net is NULL");
    ck_assert_int_eq(crease_draw_region_layers(NULL, p, &o), CREASE_EINVAL);
    ck_assert_error_has("crease_draw_region_layers: net is NULL");
    ck_assert_int_eq(crease_regions_foreach(NULL, NULL, NULL, NULL, NULL), CREASE_EINVAL);
    ck_assert_error_has("crease_regions_foreach: net is NULL");
    ck_assert_int_eq(crease_draw_decision(net, NULL, &o), CREASE_EINVAL);
    ck_assert_int_eq(crease_draw_regions(net, "", &o), CREASE_EINVAL);
    o.size = 10;
    ck_assert_int_eq(crease_draw_regions(net, p, &o), CREASE_EINVAL);
    o.size = 96;
    ck_assert_int_eq(crease_draw_curves(p, 0, &cv, NULL), CREASE_EINVAL);
    ck_assert_int_eq(crease_draw_curves(p, 9, &cv, NULL), CREASE_EINVAL);
    crease_curve empty = {"x", 0, v, NULL};
    ck_assert_int_eq(crease_draw_curves(p, 1, &empty, NULL), CREASE_EINVAL);

    /* a background that is missing or not a PNG */
    o.background = "/nonexistent-crease-dir/map.png";
    ck_assert_int_eq(crease_draw_decision(net, p, &o), CREASE_EIO);
    ck_assert_error_has("map.png");
    char notpng[4200];
    snprintf(notpng, sizeof notpng, "%s/not.png", tmpdir);
    ck_write_file(notpng, "this is text", 12);
    o.background = notpng;
    ck_assert_int_eq(crease_draw_decision(net, p, &o), CREASE_EFORMAT);
    ck_assert_error_has("not a PNG");
    o.background = NULL;

    /* more regions than the limit: an error, and no half-drawn map */
    o.regions.max_cells = 5;
    ck_assert_int_eq(crease_draw_regions(net, p, &o), CREASE_ENOMEM);
    ck_assert_error_has("max_cells");
    ck_assert_int_ne(access(p, F_OK), 0);
    assert_no_temp(1); /* only not.png */
    crease_net_free(net);
}
END_TEST

CK_MAIN("regions", setup, teardown, 600, test_general_position, test_parallel_lines,
        test_concurrent_lines, test_dead_and_missing, test_two_layer_known,
        test_one_layer_random, test_deep_random, test_bounds, test_errors_and_limits,
        test_reference_models, test_images, test_points_picture, test_image_errors)
