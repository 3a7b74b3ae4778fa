/*
 * regions.c -- exact linear regions of a 2-input ReLU / leaky-ReLU network,
 * the theoretical bounds beside them, and a sampled count on a grid.
 *
 * The domain starts as one convex cell.  For hidden layer l every cell
 * carries the layer's input h as an affine map of (x, y); each neuron's
 * pre-activation w.h + b is then affine on the cell and its zero set a line.
 * The cell is cut by the lines of all of the layer's neurons in turn, and
 * every piece passes h' = D (W h + b) (D = 1 or alpha per neuron, from the
 * piece's activation pattern) to the next layer.  Cells are walked depth
 * first, so only one cell per layer is being cut at any time: memory stays
 * proportional to the largest single cell's pieces, not to the total count.
 * See crease.h for the tolerances and what is counted.
 */
#include "config.h"
#include "net.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HIDDEN CREASE_REGIONS_MAX_HIDDEN

/* ------------------------------------------------------------ bounds */

static long double binom(int n, int k)
{
    if (k < 0 || k > n)
        return 0.0L;
    long double r = 1.0L;
    for (int i = 1; i <= k; i++)
        r = r * (long double)(n - k + i) / (long double)i;
    return r;
}

/* Regions of n hyperplanes in general position in R^d: sum_{j<=d} C(n, j). */
static long double zaslavsky(int n, int d)
{
    long double s = 0.0L;
    for (int j = 0; j <= d && j <= n; j++)
        s += binom(n, j);
    return s;
}

static double to_double(long double v)
{
    return v > (long double)DBL_MAX ? HUGE_VAL : (double)v;
}

crease_status crease_regions_bounds(int inputs, int hidden, const int *widths, int act,
                                    double *upper, double *lower)
{
    if (inputs < 1 || inputs > 65536 || hidden < 0 || hidden > MAX_HIDDEN || (hidden && !widths))
        return crease__error(CREASE_EINVAL, "crease_regions_bounds: need inputs >= 1 and "
                             "0..%d hidden widths", MAX_HIDDEN);
    if (act != CREASE_ACT_RELU && act != CREASE_ACT_LEAKY_RELU)
        return crease__error(CREASE_EUNSUPPORTED, "region bounds are for relu and leaky_relu "
                             "hidden layers, not %s", crease_act_name(act));
    for (int l = 0; l < hidden; l++)
        if (widths[l] < 1)
            return crease__error(CREASE_EINVAL, "crease_regions_bounds: width %d of hidden "
                                 "layer %d", widths[l], l + 1);
    int n0 = inputs;
    long double up, lo;
    if (act == CREASE_ACT_RELU) {
        /* Serra et al. 2018, Theorem 1, as a sum over the running minimum
         * m = min(n0, n1 - j1, ..., n_{l-1} - j_{l-1}): dp[m] is the sum of
         * the products over the choices that lead to that minimum. */
        long double *dp = calloc((size_t)n0 + 1, sizeof *dp);
        long double *nx = calloc((size_t)n0 + 1, sizeof *nx);
        if (!dp || !nx) {
            free(dp);
            free(nx);
            return crease__error(CREASE_ENOMEM, "crease_regions_bounds: out of memory");
        }
        for (int m = 0; m <= n0; m++)
            dp[m] = 0.0L;
        dp[n0] = 1.0L;
        for (int l = 0; l < hidden; l++) {
            int n = widths[l];
            for (int m = 0; m <= n0; m++)
                nx[m] = 0.0L;
            for (int m = 0; m <= n0; m++) {
                if (dp[m] == 0.0L)
                    continue;
                for (int j = 0; j <= m && j <= n; j++) {
                    int m2 = n - j < m ? n - j : m;
                    nx[m2] += dp[m] * binom(n, j);
                }
            }
            memcpy(dp, nx, ((size_t)n0 + 1) * sizeof *dp);
        }
        up = 0.0L;
        for (int m = 0; m <= n0; m++)
            up += dp[m];
        free(dp);
        free(nx);
    } else {
        /* leaky ReLU keeps every cell's image n0-dimensional, so each layer
         * can cut each cell into at most sum_{j<=n0} C(n_l, j) pieces */
        up = 1.0L;
        for (int l = 0; l < hidden; l++)
            up *= zaslavsky(widths[l], n0);
    }

    /* Lower bound on the maximum: the prefix up to layer l reaches
     * prod_{k<l} f(n_k) * sum_{j<=n0} C(n_l, j) when every earlier layer is
     * at least n0 wide (Montufar et al. 2014, with Serra et al. 2018's
     * (floor(n/n0)+1)^n0 for layers of at least 3 n0); regions of a prefix
     * never merge later, so the best prefix bounds the whole net. */
    lo = 1.0L;
    long double prod = 1.0L;
    int ok = 1;
    for (int l = 0; l < hidden && ok; l++) {
        int n = widths[l];
        long double here = prod * zaslavsky(n, n0);
        if (here > lo)
            lo = here;
        if (n < n0) {
            ok = 0;
            break;
        }
        long double f = 1.0L;
        if (act == CREASE_ACT_RELU) {
            long double base = (long double)(n / n0) + (n >= 3 * n0 ? 1.0L : 0.0L);
            for (int d = 0; d < n0; d++)
                f *= base;
        }
        prod *= f;
    }
    if (upper)
        *upper = to_double(up);
    if (lower)
        *lower = to_double(lo);
    return CREASE_OK;
}

/* --------------------------------------------------------- hash sets */

/* Open addressing over 64-bit keys; 0 marks an empty slot (keys are made
 * non-zero by the caller). */
typedef struct pset {
    uint64_t *k;
    size_t cap, n;
} pset;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int pset_add(pset *s, uint64_t key)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 1024;
        uint64_t *nk = calloc(nc, sizeof *nk);
        if (!nk)
            return crease__error(CREASE_ENOMEM, "regions: no memory for %zu activation patterns",
                                 s->n + 1);
        for (size_t i = 0; i < s->cap; i++) {
            uint64_t k = s->k[i];
            if (!k)
                continue;
            size_t h = (size_t)mix64(k) & (nc - 1);
            while (nk[h])
                h = (h + 1) & (nc - 1);
            nk[h] = k;
        }
        free(s->k);
        s->k = nk;
        s->cap = nc;
    }
    size_t h = (size_t)mix64(key) & (s->cap - 1);
    while (s->k[h]) {
        if (s->k[h] == key)
            return CREASE_OK;
        h = (h + 1) & (s->cap - 1);
    }
    s->k[h] = key;
    s->n++;
    return CREASE_OK;
}

static void pset_free(pset *s)
{
    free(s->k);
    s->k = NULL;
    s->cap = s->n = 0;
}

/* Folds one layer's pattern words into the running hash; the layer index
 * keeps "the same bits in another layer" apart. */
static uint64_t hash_layer(uint64_t h, int layer, const uint64_t *bits, int nw)
{
    h = mix64(h ^ (0x9e3779b97f4a7c15ull * (uint64_t)(layer + 1)));
    for (int i = 0; i < nw; i++)
        h = mix64(h + bits[i] + 0x632be59bd9b4e019ull);
    return h ? h : 1;
}

/* ------------------------------------------------------------- walk */

/* The pieces of the cell being cut at one layer.  Polygons live in a vertex
 * pool (x, y and the layer whose fold made the edge that starts there);
 * a split appends both halves and leaves the old polygon as garbage, which a
 * compaction into the spare pool removes. */
typedef struct level {
    size_t np, cap_p;
    size_t *off;
    int *nv;
    uint64_t *bits; /* nw words per piece */
    double *circ;   /* 3 per piece: a circle (x, y, r) around it, so a line
                       far from a piece is dismissed with one evaluation */
    double *xy, *xy2;
    int *lab, *lab2;
    size_t nverts, cap_v, garbage;
    double *dist;   /* scratch, cap_d */
    unsigned char *on;
    int cap_d;
    double *ga, *gb, *gc; /* pre-activation coefficients of the cell */
    double *pq;           /* next layer's input map of one piece: n x 3 */
} level;

typedef struct walk {
    int L;                      /* hidden layers */
    int n[MAX_HIDDEN + 2];      /* widths: n[0] = 2 inputs ... n[L+1] outputs */
    int nw[MAX_HIDDEN + 1];     /* pattern words of hidden layer l (0-based) */
    double *wt[MAX_HIDDEN + 1]; /* dense layer l transposed: n[l] x n[l+1] */
    double *bias[MAX_HIDDEN + 1];
    double alpha;               /* 0 for ReLU */
    double area_eps, dist_eps;
    size_t max_cells;
    double time_limit, t0;
    level lv[MAX_HIDDEN];
    pset sets[MAX_HIDDEN];
    size_t cells[MAX_HIDDEN];
    double *outa;               /* outputs x 3 */
    crease_region_fn fn;
    void *user;
    int stopped;                /* 1 limit, 2 callback */
    int err;
    size_t tick;
} walk;

static int level_pieces(level *v, size_t need, int nw)
{
    if (need <= v->cap_p)
        return CREASE_OK;
    size_t nc = v->cap_p ? v->cap_p : 64;
    while (nc < need)
        nc *= 2;
    size_t *o = realloc(v->off, nc * sizeof *o);
    if (!o)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    v->off = o;
    int *m = realloc(v->nv, nc * sizeof *m);
    if (!m)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    v->nv = m;
    uint64_t *b = realloc(v->bits, nc * (size_t)nw * sizeof *b);
    if (!b)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    v->bits = b;
    double *c = realloc(v->circ, nc * 3 * sizeof *c);
    if (!c)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    v->circ = c;
    v->cap_p = nc;
    return CREASE_OK;
}

static int level_verts(level *v, size_t need)
{
    if (need <= v->cap_v)
        return CREASE_OK;
    size_t nc = v->cap_v ? v->cap_v : 256;
    while (nc < need)
        nc *= 2;
    double *a = realloc(v->xy, nc * 2 * sizeof *a);
    if (!a)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    v->xy = a;
    double *a2 = realloc(v->xy2, nc * 2 * sizeof *a2);
    if (!a2)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    v->xy2 = a2;
    int *l = realloc(v->lab, nc * sizeof *l);
    if (!l)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    v->lab = l;
    int *l2 = realloc(v->lab2, nc * sizeof *l2);
    if (!l2)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    v->lab2 = l2;
    v->cap_v = nc;
    return CREASE_OK;
}

static void level_free(level *v)
{
    free(v->off);
    free(v->nv);
    free(v->bits);
    free(v->circ);
    free(v->xy);
    free(v->xy2);
    free(v->lab);
    free(v->lab2);
    free(v->dist);
    free(v->on);
    free(v->ga);
    free(v->gb);
    free(v->gc);
    free(v->pq);
    memset(v, 0, sizeof *v);
}

/* Moves the live polygons to the spare pool (drops split leftovers). */
static void compact(level *v)
{
    size_t k = 0;
    for (size_t p = 0; p < v->np; p++) {
        size_t o = v->off[p];
        int m = v->nv[p];
        memcpy(v->xy2 + 2 * k, v->xy + 2 * o, (size_t)m * 2 * sizeof(double));
        memcpy(v->lab2 + k, v->lab + o, (size_t)m * sizeof(int));
        v->off[p] = k;
        k += (size_t)m;
    }
    double *t = v->xy;
    v->xy = v->xy2;
    v->xy2 = t;
    int *u = v->lab;
    v->lab = v->lab2;
    v->lab2 = u;
    v->nverts = k;
    v->garbage = 0;
}

/* A circle around the polygon: its vertex mean and the farthest vertex. */
static void enclose(const double *xy, int m, double *circ)
{
    double cx = 0, cy = 0, r2 = 0;
    for (int i = 0; i < m; i++) {
        cx += xy[2 * i];
        cy += xy[2 * i + 1];
    }
    cx /= m;
    cy /= m;
    for (int i = 0; i < m; i++) {
        double dx = xy[2 * i] - cx, dy = xy[2 * i + 1] - cy;
        r2 = fmax(r2, dx * dx + dy * dy);
    }
    circ[0] = cx;
    circ[1] = cy;
    circ[2] = sqrt(r2) * (1 + 1e-12) + 1e-300;
}

static double poly_area(const double *xy, int m)
{
    double s = 0.0;
    for (int i = 0; i < m; i++) {
        int j = i + 1 == m ? 0 : i + 1;
        s += xy[2 * i] * xy[2 * j + 1] - xy[2 * j] * xy[2 * i + 1];
    }
    return 0.5 * s;
}

/* Writes the part of polygon (xy, lab, d) on side sgn (+1 or -1) to out;
 * returns its vertex count.  Vertices within eps of the line belong to both
 * sides; a crossing edge gets the intersection point.  The edge between the
 * two points on the line is the new fold, labelled `layer`.  on[] is
 * scratch of m + 2 entries. */
static int clip_side(const double *xy, const int *lab, const double *d, int m, double eps,
                     int sgn, int layer, double *oxy, int *olab, unsigned char *on)
{
    int k = 0;
    for (int i = 0; i < m; i++) {
        int j = i + 1 == m ? 0 : i + 1;
        double di = sgn * d[i], dj = sgn * d[j];
        if (di >= -eps) {
            oxy[2 * k] = xy[2 * i];
            oxy[2 * k + 1] = xy[2 * i + 1];
            olab[k] = lab[i];
            on[k++] = di <= eps;
        }
        if ((di > eps && dj < -eps) || (di < -eps && dj > eps)) {
            double t = d[i] / (d[i] - d[j]);
            oxy[2 * k] = xy[2 * i] + t * (xy[2 * j] - xy[2 * i]);
            oxy[2 * k + 1] = xy[2 * i + 1] + t * (xy[2 * j + 1] - xy[2 * i + 1]);
            olab[k] = lab[i];
            on[k++] = 1;
        }
    }
    /* the edge joining the two points on the line runs along the cut */
    for (int i = 0; i < k; i++)
        if (on[i] && on[i + 1 == k ? 0 : i + 1])
            olab[i] = layer;
    return k;
}

/* Cuts every piece of v by neuron j's line a x + b y + c = 0. */
static int split_pass(walk *w, level *v, int layer, int j, double a, double b, double c)
{
    const int nw = w->nw[layer];
    const uint64_t mask = 1ull << (j & 63);
    const int word = j >> 6;
    const double eps = w->dist_eps;
    double nrm = hypot(a, b);
    size_t np = v->np;

    if (!(nrm > 0.0) || !isfinite(nrm)) {
        /* constant on the whole plane: no line */
        if (c > 0.0)
            for (size_t p = 0; p < np; p++)
                v->bits[p * (size_t)nw + (size_t)word] |= mask;
        return CREASE_OK;
    }
    a /= nrm;
    b /= nrm;
    c /= nrm;
    for (size_t p = 0; p < np; p++) {
        const double *circ = v->circ + 3 * p;
        double dc = a * circ[0] + b * circ[1] + c;
        if (fabs(dc) > circ[2] + eps) {
            /* the whole piece lies on one side */
            if (dc > 0.0)
                v->bits[p * (size_t)nw + (size_t)word] |= mask;
            continue;
        }
        int m = v->nv[p];
        const double *xy = v->xy + 2 * v->off[p];
        int pos = 0, neg = 0;
        double sum = 0.0;
        for (int i = 0; i < m; i++) {
            double d = a * xy[2 * i] + b * xy[2 * i + 1] + c;
            pos |= d > eps;
            neg |= d < -eps;
            sum += d;
        }
        if (!(pos && neg)) {
            if (pos || (!neg && sum > 0.0))
                v->bits[p * (size_t)nw + (size_t)word] |= mask;
            continue;
        }
        /* a real cut: both halves go to the end of the pool */
        int st;
        size_t room = (size_t)m + 2;
        if ((st = level_verts(v, v->nverts + 2 * room)) != CREASE_OK)
            return st;
        if (m + 2 > v->cap_d) {
            int nc = 2 * m + 2;
            double *nd = realloc(v->dist, (size_t)nc * sizeof *nd);
            if (nd)
                v->dist = nd;
            unsigned char *no = realloc(v->on, (size_t)nc);
            if (no)
                v->on = no;
            if (!nd || !no)
                return crease__error(CREASE_ENOMEM, "regions: out of memory");
            v->cap_d = nc;
        }
        xy = v->xy + 2 * v->off[p];
        const int *lab = v->lab + v->off[p];
        for (int i = 0; i < m; i++)
            v->dist[i] = a * xy[2 * i] + b * xy[2 * i + 1] + c;
        size_t o1 = v->nverts;
        int m1 = clip_side(xy, lab, v->dist, m, eps, +1, layer, v->xy + 2 * o1, v->lab + o1, v->on);
        size_t o2 = o1 + (size_t)m1;
        int m2 = clip_side(xy, lab, v->dist, m, eps, -1, layer, v->xy + 2 * o2, v->lab + o2, v->on);
        double a1 = poly_area(v->xy + 2 * o1, m1), a2 = poly_area(v->xy + 2 * o2, m2);
        if (m1 < 3 || m2 < 3 || a1 < w->area_eps || a2 < w->area_eps) {
            /* a sliver: no cut; the piece takes the side of the larger part */
            if (a1 >= a2)
                v->bits[p * (size_t)nw + (size_t)word] |= mask;
            continue;
        }
        if ((st = level_pieces(v, v->np + 1, nw)) != CREASE_OK)
            return st;
        size_t q = v->np++;
        memcpy(v->bits + q * (size_t)nw, v->bits + p * (size_t)nw, (size_t)nw * sizeof(uint64_t));
        v->bits[p * (size_t)nw + (size_t)word] |= mask;
        v->garbage += (size_t)m;
        v->off[p] = o1;
        v->nv[p] = m1;
        v->off[q] = o2;
        v->nv[q] = m2;
        enclose(v->xy + 2 * o1, m1, v->circ + 3 * p);
        enclose(v->xy + 2 * o2, m2, v->circ + 3 * q);
        v->nverts = o2 + (size_t)m2;
    }
    if (v->garbage > v->nverts / 2 && v->garbage > 4096)
        compact(v);
    return CREASE_OK;
}

static int check_limits(walk *w, int layer)
{
    if (w->cells[layer] > w->max_cells) {
        w->stopped = 1;
        return 1;
    }
    if (w->time_limit > 0.0 && (++w->tick & 1023) == 0 &&
        crease__now() - w->t0 > w->time_limit) {
        w->stopped = 1;
        return 1;
    }
    return 0;
}

/* Cuts one cell (polygon cxy/clab of cm vertices, input map pq of n[l] rows
 * (dx, dy, const)) by hidden layer l and walks the pieces onward. */
static int walk_cell(walk *w, int l, const double *cxy, const int *clab, int cm,
                     const double *pq, uint64_t hash)
{
    level *v = &w->lv[l];
    const int nin = w->n[l], nout = w->n[l + 1], nw = w->nw[l];
    const double *wt = w->wt[l];
    int st;

    /* pre-activations as affine functions on the cell; inputs that are
     * zero here (dead ReLUs) cost nothing */
    for (int j = 0; j < nout; j++) {
        v->ga[j] = 0.0;
        v->gb[j] = 0.0;
        v->gc[j] = w->bias[l][j];
    }
    for (int k = 0; k < nin; k++) {
        double px = pq[3 * k], py = pq[3 * k + 1], q = pq[3 * k + 2];
        if (px == 0.0 && py == 0.0 && q == 0.0)
            continue;
        const double *wk = wt + (size_t)k * (size_t)nout;
        for (int j = 0; j < nout; j++) {
            v->ga[j] += wk[j] * px;
            v->gb[j] += wk[j] * py;
            v->gc[j] += wk[j] * q;
        }
    }

    /* the cell as the only piece */
    if ((st = level_pieces(v, 1, nw)) != CREASE_OK || (st = level_verts(v, (size_t)cm)) != CREASE_OK)
        return st;
    memcpy(v->xy, cxy, (size_t)cm * 2 * sizeof(double));
    memcpy(v->lab, clab, (size_t)cm * sizeof(int));
    v->np = 1;
    v->off[0] = 0;
    v->nv[0] = cm;
    v->nverts = (size_t)cm;
    v->garbage = 0;
    memset(v->bits, 0, (size_t)nw * sizeof(uint64_t));
    enclose(v->xy, cm, v->circ);

    for (int j = 0; j < nout; j++) {
        if ((st = split_pass(w, v, l, j, v->ga[j], v->gb[j], v->gc[j])) != CREASE_OK)
            return st;
        /* one wide cell can take long by itself: watch the clock here too */
        if (w->time_limit > 0.0 && (j & 15) == 15 && crease__now() - w->t0 > w->time_limit) {
            w->stopped = 1;
            return CREASE_OK;
        }
    }

    int last = l + 1 == w->L;
    for (size_t p = 0; p < v->np; p++) {
        const uint64_t *bits = v->bits + p * (size_t)nw;
        uint64_t h = hash_layer(hash, l, bits, nw);
        w->cells[l]++;
        if ((st = pset_add(&w->sets[l], h)) != CREASE_OK)
            return st;
        if (check_limits(w, l))
            return CREASE_OK;
        int need_map = !last || (w->fn != NULL);
        if (need_map) {
            /* next layer's input h' = D (G), row j scaled by 1 or alpha */
            double *pq2 = v->pq;
            for (int j = 0; j < nout; j++) {
                double s = (bits[j >> 6] >> (j & 63)) & 1 ? 1.0 : w->alpha;
                pq2[3 * j] = s * v->ga[j];
                pq2[3 * j + 1] = s * v->gb[j];
                pq2[3 * j + 2] = s * v->gc[j];
            }
        }
        const double *pxy = v->xy + 2 * v->off[p];
        const int *plab = v->lab + v->off[p];
        int pm = v->nv[p];
        if (w->fn) {
            crease_region_cell cell;
            memset(&cell, 0, sizeof cell);
            cell.layer = l;
            cell.nverts = pm;
            cell.xy = pxy;
            cell.edge_layer = plab;
            cell.pattern_hash = h;
            cell.bits = bits;
            cell.outputs = 0;
            cell.out_affine = NULL;
            if (last) {
                /* logits as affine functions of (x, y) on this cell */
                int no = w->n[l + 2];
                const double *wo = w->wt[l + 1];
                for (int o = 0; o < no; o++) {
                    w->outa[3 * o] = 0.0;
                    w->outa[3 * o + 1] = 0.0;
                    w->outa[3 * o + 2] = w->bias[l + 1][o];
                }
                for (int k = 0; k < nout; k++) {
                    const double *r = v->pq + 3 * k;
                    if (r[0] == 0.0 && r[1] == 0.0 && r[2] == 0.0)
                        continue;
                    for (int o = 0; o < no; o++) {
                        double wk = wo[(size_t)k * (size_t)no + (size_t)o];
                        w->outa[3 * o] += wk * r[0];
                        w->outa[3 * o + 1] += wk * r[1];
                        w->outa[3 * o + 2] += wk * r[2];
                    }
                }
                cell.outputs = no;
                cell.out_affine = w->outa;
            }
            if (w->fn(&cell, w->user)) {
                w->stopped = 2;
                return CREASE_OK;
            }
        }
        if (!last) {
            /* the next level copies what it needs before touching v->pq */
            if ((st = walk_cell(w, l + 1, pxy, plab, pm, v->pq, h)) != CREASE_OK)
                return st;
            if (w->stopped)
                return CREASE_OK;
        }
    }
    return CREASE_OK;
}

void crease_regions_opts_default(crease_regions_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->xmin = -1.0;
    o->xmax = 1.0;
    o->ymin = -1.0;
    o->ymax = 1.0;
    o->area_eps = 1e-12;
    o->dist_eps = 1e-10;
    o->max_cells = 10000000;
    o->time_limit = 0.0;
}

static int check_net(const crease_net *net, const char *who)
{
    if (!net)
        return crease__error(CREASE_EINVAL, "%s: net is NULL", who);
    if (net->width[0] != 2)
        return crease__error(CREASE_EINVAL, "%s: the network %s has %d inputs; region counting "
                             "needs exactly 2 (a plane)", who, net->spec, net->width[0]);
    if (net->nlayers > 1 && net->act != CREASE_ACT_RELU && net->act != CREASE_ACT_LEAKY_RELU)
        return crease__error(CREASE_EUNSUPPORTED, "%s: the network %s uses %s; linear regions "
                             "exist only for relu and leaky_relu hidden layers", who, net->spec,
                             crease_act_name(net->act));
    if (net->nlayers - 1 > MAX_HIDDEN)
        return crease__error(CREASE_EINVAL, "%s: more than %d hidden layers", who, MAX_HIDDEN);
    return CREASE_OK;
}

static int check_opts(const crease_regions_opts *o, const char *who)
{
    if (!(o->xmin < o->xmax) || !(o->ymin < o->ymax) || !isfinite(o->xmin) ||
        !isfinite(o->xmax) || !isfinite(o->ymin) || !isfinite(o->ymax))
        return crease__error(CREASE_EINVAL, "%s: the domain [%g, %g] x [%g, %g] is empty or "
                             "not finite", who, o->xmin, o->xmax, o->ymin, o->ymax);
    if (!(o->area_eps >= 0.0) || !(o->dist_eps >= 0.0) || !(o->time_limit >= 0.0))
        return crease__error(CREASE_EINVAL, "%s: negative tolerance or time limit", who);
    return CREASE_OK;
}

/* Checks the net and the options; NULL options are the defaults, put in
 * *def and *opts made to point at them. */
static int check_args(const crease_net *net, const crease_regions_opts **opts,
                      crease_regions_opts *def, const char *who)
{
    if (!*opts) {
        crease_regions_opts_default(def);
        *opts = def;
    }
    int st = check_net(net, who);
    return st ? st : check_opts(*opts, who);
}

/* Host copies of the weights in double, transposed (in x out). */
static int load_weights(const crease_net *net, double **wt, double **bias)
{
    int st = CREASE_OK;
    for (int l = 0; l < net->nlayers && !st; l++) {
        int in = net->width[l], out = net->width[l + 1];
        size_t nwt = (size_t)in * (size_t)out;
        float *fw = malloc(nwt * sizeof *fw), *fb = malloc((size_t)out * sizeof *fb);
        wt[l] = malloc(nwt * sizeof **wt);
        bias[l] = malloc((size_t)out * sizeof **bias);
        if (!fw || !fb || !wt[l] || !bias[l])
            st = crease__error(CREASE_ENOMEM, "regions: no memory for the weights");
        if (!st)
            st = crease_net_get_layer(net, l, fw, fb);
        if (!st) {
            for (int j = 0; j < out; j++) {
                bias[l][j] = fb[j];
                for (int k = 0; k < in; k++) {
                    double x = fw[(size_t)j * (size_t)in + (size_t)k];
                    wt[l][(size_t)k * (size_t)out + (size_t)j] = x;
                }
                if (!isfinite(bias[l][j]))
                    st = crease__error(CREASE_EINVAL, "regions: layer %d has a non-finite bias", l);
            }
            for (size_t i = 0; i < nwt && !st; i++)
                if (!isfinite(wt[l][i]))
                    st = crease__error(CREASE_EINVAL, "regions: layer %d has a non-finite weight", l);
        }
        free(fw);
        free(fb);
    }
    return st;
}

/* Frees what load_weights allocated (or began to). */
static void free_weights(const crease_net *net, double **wt, double **bias)
{
    for (int l = 0; l < net->nlayers; l++) {
        free(wt[l]);
        free(bias[l]);
    }
}

static void fill_bounds(const crease_net *net, crease_regions_result *r)
{
    int act = net->nlayers > 1 ? net->act : CREASE_ACT_RELU;
    r->upper_formula = act == CREASE_ACT_LEAKY_RELU
                           ? "prod_l sum_{j<=n0} C(n_l, j) (no dimension loss with leaky ReLU)"
                           : "Serra, Tjandraatmadja & Ramalingam 2018, Theorem 1";
    r->lower_formula = act == CREASE_ACT_LEAKY_RELU
                           ? "max_l sum_{j<=n0} C(n_l, j) over prefixes without a layer narrower "
                             "than n0"
                           : "prod_{l<L} f(n_l) * sum_{j<=n0} C(n_L, j), f(n) = "
                             "(floor(n/n0)+1)^n0 if n >= 3 n0 (Serra et al. 2018) else "
                             "floor(n/n0)^n0 (Montufar et al. 2014), best prefix";
    for (int l = 0; l < r->hidden; l++)
        crease_regions_bounds(2, l + 1, r->widths, act, &r->upper[l], &r->lower[l]);
    if (r->hidden) {
        r->upper_bound = r->upper[r->hidden - 1];
        r->lower_bound = r->lower[r->hidden - 1];
    } else {
        r->upper_bound = r->lower_bound = 1.0;
    }
}

/* crease_regions_foreach, with `who` (the public function called) named
 * in errors. */
static int walk_regions(const char *who, crease_net *net, const crease_regions_opts *opts,
                        crease_region_fn fn, void *user, crease_regions_result *out)
{
    crease_regions_opts def;
    int st = check_args(net, &opts, &def, who);
    if (st)
        return st;

    crease_regions_result res;
    memset(&res, 0, sizeof res);
    res.inputs = 2;
    res.hidden = net->nlayers - 1;
    for (int l = 0; l < res.hidden; l++)
        res.widths[l] = net->width[l + 1];
    fill_bounds(net, &res);

    walk *w = calloc(1, sizeof *w);
    if (!w)
        return crease__error(CREASE_ENOMEM, "regions: out of memory");
    w->L = res.hidden;
    for (int l = 0; l <= net->nlayers; l++)
        w->n[l] = net->width[l];
    w->alpha = net->act == CREASE_ACT_LEAKY_RELU ? (double)net->alpha : 0.0;
    w->area_eps = opts->area_eps;
    w->dist_eps = opts->dist_eps;
    w->max_cells = opts->max_cells ? opts->max_cells : (size_t)-1;
    w->time_limit = opts->time_limit;
    w->fn = fn;
    w->user = user;
    w->t0 = crease__now();

    st = load_weights(net, w->wt, w->bias);
    for (int l = 0; l < w->L && !st; l++) {
        level *v = &w->lv[l];
        int n = w->n[l + 1];
        w->nw[l] = (n + 63) / 64;
        v->ga = malloc((size_t)n * sizeof *v->ga);
        v->gb = malloc((size_t)n * sizeof *v->gb);
        v->gc = malloc((size_t)n * sizeof *v->gc);
        v->pq = malloc((size_t)n * 3 * sizeof *v->pq);
        if (!v->ga || !v->gb || !v->gc || !v->pq)
            st = crease__error(CREASE_ENOMEM, "regions: out of memory");
    }
    if (!st) {
        w->outa = malloc((size_t)w->n[w->L + 1] * 3 * sizeof *w->outa);
        if (!w->outa)
            st = crease__error(CREASE_ENOMEM, "regions: out of memory");
    }

    if (!st && w->L > 0) {
        const double sq[8] = {opts->xmin, opts->ymin, opts->xmax, opts->ymin,
                              opts->xmax, opts->ymax, opts->xmin, opts->ymax};
        const int sl[4] = {-1, -1, -1, -1};
        const double id[6] = {1, 0, 0, 0, 1, 0}; /* h = (x, y) */
        st = walk_cell(w, 0, sq, sl, 4, id, 0x5851f42d4c957f2dull);
    } else if (!st && fn) {
        /* no hidden layer: the domain is one region with an affine output */
        const double sq[8] = {opts->xmin, opts->ymin, opts->xmax, opts->ymin,
                              opts->xmax, opts->ymax, opts->xmin, opts->ymax};
        const int sl[4] = {-1, -1, -1, -1};
        int no = w->n[1];
        for (int o = 0; o < no; o++) {
            w->outa[3 * o] = w->wt[0][o];
            w->outa[3 * o + 1] = w->wt[0][(size_t)no + (size_t)o];
            w->outa[3 * o + 2] = w->bias[0][o];
        }
        crease_region_cell cell;
        memset(&cell, 0, sizeof cell);
        cell.layer = -1;
        cell.nverts = 4;
        cell.xy = sq;
        cell.edge_layer = sl;
        cell.pattern_hash = 1;
        cell.outputs = no;
        cell.out_affine = w->outa;
        if (fn(&cell, user))
            w->stopped = 2;
    }

    if (!st) {
        for (int l = 0; l < w->L; l++) {
            res.cells[l] = w->cells[l];
            res.patterns[l] = w->sets[l].n;
        }
        res.regions = w->L ? res.cells[w->L - 1] : 1;
        res.activation_patterns = w->L ? res.patterns[w->L - 1] : 1;
        res.complete = w->stopped == 0;
        res.stopped_by_callback = w->stopped == 2;
        res.seconds = crease__now() - w->t0;
        if (out)
            *out = res;
    }

    for (int l = 0; l < w->L; l++) {
        level_free(&w->lv[l]);
        pset_free(&w->sets[l]);
    }
    free_weights(net, w->wt, w->bias);
    free(w->outa);
    free(w);
    return st;
}

crease_status crease_regions_foreach(crease_net *net, const crease_regions_opts *opts,
                                     crease_region_fn fn, void *user,
                                     crease_regions_result *out)
{
    return walk_regions("crease_regions_foreach", net, opts, fn, user, out);
}

crease_status crease_regions_count(crease_net *net, const crease_regions_opts *opts,
                                   crease_regions_result *out)
{
    if (!out)
        return crease__error(CREASE_EINVAL, "crease_regions_count: out is NULL");
    return walk_regions("crease_regions_count", net, opts, NULL, NULL, out);
}

/* ------------------------------------------------------- grid sample */

crease_status crease_regions_sample(crease_net *net, const crease_regions_opts *opts, int n,
                                    size_t *patterns)
{
    static const char who[] = "crease_regions_sample";
    crease_regions_opts def;
    int st = check_args(net, &opts, &def, who);
    if (st)
        return st;
    if (n < 1 || n > 65536 || !patterns)
        return crease__error(CREASE_EINVAL, "%s: grid side %d out of 1..65536 or no output "
                             "array", who, n);
    int L = net->nlayers - 1;
    double *wt[MAX_HIDDEN + 1] = {0}, *bias[MAX_HIDDEN + 1] = {0};
    pset sets[MAX_HIDDEN];
    memset(sets, 0, sizeof sets);
    double alpha = net->act == CREASE_ACT_LEAKY_RELU ? (double)net->alpha : 0.0;
    int maxw = 2;
    for (int l = 1; l < net->nlayers; l++)
        if (net->width[l] > maxw)
            maxw = net->width[l];
    double *h = malloc((size_t)maxw * sizeof *h), *z = malloc((size_t)maxw * sizeof *z);
    uint64_t *bits = malloc((size_t)((maxw + 63) / 64) * sizeof *bits);
    if (!h || !z || !bits)
        st = crease__error(CREASE_ENOMEM, "%s: out of memory", who);
    if (!st)
        st = load_weights(net, wt, bias);

    for (int r = 0; r < n && !st; r++) {
        double y = opts->ymax - (r + 0.5) * (opts->ymax - opts->ymin) / n;
        for (int c = 0; c < n && !st; c++) {
            double x = opts->xmin + (c + 0.5) * (opts->xmax - opts->xmin) / n;
            h[0] = x;
            h[1] = y;
            uint64_t hash = 0x5851f42d4c957f2dull;
            for (int l = 0; l < L && !st; l++) {
                int in = net->width[l], out = net->width[l + 1], nw = (out + 63) / 64;
                for (int j = 0; j < out; j++)
                    z[j] = bias[l][j];
                for (int k = 0; k < in; k++) {
                    double hk = h[k];
                    if (hk == 0.0)
                        continue;
                    const double *wk = wt[l] + (size_t)k * (size_t)out;
                    for (int j = 0; j < out; j++)
                        z[j] += wk[j] * hk;
                }
                memset(bits, 0, (size_t)nw * sizeof *bits);
                for (int j = 0; j < out; j++) {
                    if (z[j] > 0.0) {
                        bits[j >> 6] |= 1ull << (j & 63);
                        h[j] = z[j];
                    } else {
                        h[j] = alpha * z[j];
                    }
                }
                hash = hash_layer(hash, l, bits, nw);
                st = pset_add(&sets[l], hash);
            }
        }
    }
    if (!st)
        for (int l = 0; l < L; l++)
            patterns[l] = sets[l].n;
    if (!st && L == 0)
        patterns[0] = 1;
    for (int l = 0; l < L; l++)
        pset_free(&sets[l]);
    free_weights(net, wt, bias);
    free(h);
    free(z);
    free(bits);
    return st;
}
