/*
 * image.c -- PNG pictures: the decision boundary over the Baarle map, the
 * linear-region map, the regions layer by layer, and training curves.
 *
 * Everything is drawn on the host into an 8-bit RGB canvas: filled convex
 * polygons, antialiased lines through coverage masks (the maximum of the
 * coverages, so a fold shared by two cells is not drawn twice as dark), and
 * text in a small built-in bitmap font.  png_io.c encodes the PNG into
 * memory and writes it with crease__write_file_atomic, so no half-written
 * file is ever seen under the final name.
 */
#include "config.h"
#include "net.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE 8192

/* ------------------------------------------------------------------ font */

/* A 5 x 9 bitmap font for printable ASCII, drawn for this file: rows 0-6
 * hold capitals and digits, rows 7-8 the descenders.  '#' is ink. */
#define GLYPH_W 5
#define GLYPH_H 9
#define GLYPH_ADV 6
static const char font[95][GLYPH_H][GLYPH_W + 1] = {
    {".....", ".....", ".....", ".....", ".....", ".....", ".....", ".....", "....."}, /* ' ' */
    {"..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#..", ".....", "....."}, /* '!' */
    {".#.#.", ".#.#.", ".#.#.", ".....", ".....", ".....", ".....", ".....", "....."}, /* '"' */
    {".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#.", ".....", "....."}, /* '#' */
    {"..#..", ".####", "#.#..", ".###.", "..#.#", "####.", "..#..", ".....", "....."}, /* '$' */
    {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##", ".....", "....."}, /* '%' */
    {".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#", ".....", "....."}, /* '&' */
    {"..#..", "..#..", ".....", ".....", ".....", ".....", ".....", ".....", "....."}, /* '\'' */
    {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#.", ".....", "....."}, /* '(' */
    {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#...", ".....", "....."}, /* ')' */
    {".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", ".....", ".....", "....."}, /* '*' */
    {".....", "..#..", "..#..", "#####", "..#..", "..#..", ".....", ".....", "....."}, /* '+' */
    {".....", ".....", ".....", ".....", ".....", ".##..", ".##..", "..#..", ".#..."}, /* ',' */
    {".....", ".....", ".....", ".###.", ".....", ".....", ".....", ".....", "....."}, /* '-' */
    {".....", ".....", ".....", ".....", ".....", ".##..", ".##..", ".....", "....."}, /* '.' */
    {"....#", "...#.", "...#.", "..#..", ".#...", ".#...", "#....", ".....", "....."}, /* '/' */
    {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###.", ".....", "....."}, /* '0' */
    {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###.", ".....", "....."}, /* '1' */
    {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####", ".....", "....."}, /* '2' */
    {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###.", ".....", "....."}, /* '3' */
    {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#.", ".....", "....."}, /* '4' */
    {"#####", "#....", "####.", "....#", "....#", "#...#", ".###.", ".....", "....."}, /* '5' */
    {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###.", ".....", "....."}, /* '6' */
    {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#...", ".....", "....."}, /* '7' */
    {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###.", ".....", "....."}, /* '8' */
    {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##..", ".....", "....."}, /* '9' */
    {".....", ".##..", ".##..", ".....", ".##..", ".##..", ".....", ".....", "....."}, /* ':' */
    {".....", ".##..", ".##..", ".....", ".##..", ".##..", "..#..", ".#...", "....."}, /* ';' */
    {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#.", ".....", "....."}, /* '<' */
    {".....", ".....", "#####", ".....", "#####", ".....", ".....", ".....", "....."}, /* '=' */
    {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#...", ".....", "....."}, /* '>' */
    {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#..", ".....", "....."}, /* '?' */
    {".###.", "#...#", "....#", ".##.#", "#.#.#", "#.#.#", ".###.", ".....", "....."}, /* '@' */
    {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#", ".....", "....."}, /* 'A' */
    {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####.", ".....", "....."}, /* 'B' */
    {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###.", ".....", "....."}, /* 'C' */
    {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###..", ".....", "....."}, /* 'D' */
    {"#####", "#....", "#....", "####.", "#....", "#....", "#####", ".....", "....."}, /* 'E' */
    {"#####", "#....", "#....", "####.", "#....", "#....", "#....", ".....", "....."}, /* 'F' */
    {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####", ".....", "....."}, /* 'G' */
    {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#", ".....", "....."}, /* 'H' */
    {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###.", ".....", "....."}, /* 'I' */
    {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##..", ".....", "....."}, /* 'J' */
    {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#", ".....", "....."}, /* 'K' */
    {"#....", "#....", "#....", "#....", "#....", "#....", "#####", ".....", "....."}, /* 'L' */
    {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#", ".....", "....."}, /* 'M' */
    {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", ".....", "....."}, /* 'N' */
    {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###.", ".....", "....."}, /* 'O' */
    {"####.", "#...#", "#...#", "####.", "#....", "#....", "#....", ".....", "....."}, /* 'P' */
    {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#", ".....", "....."}, /* 'Q' */
    {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#", ".....", "....."}, /* 'R' */
    {".####", "#....", "#....", ".###.", "....#", "....#", "####.", ".....", "....."}, /* 'S' */
    {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..", ".....", "....."}, /* 'T' */
    {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###.", ".....", "....."}, /* 'U' */
    {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#..", ".....", "....."}, /* 'V' */
    {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#.", ".....", "....."}, /* 'W' */
    {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#", ".....", "....."}, /* 'X' */
    {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#..", ".....", "....."}, /* 'Y' */
    {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####", ".....", "....."}, /* 'Z' */
    {".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###.", ".....", "....."}, /* '[' */
    {"#....", ".#...", ".#...", "..#..", "...#.", "...#.", "....#", ".....", "....."}, /* '\\' */
    {".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###.", ".....", "....."}, /* ']' */
    {"..#..", ".#.#.", "#...#", ".....", ".....", ".....", ".....", ".....", "....."}, /* '^' */
    {".....", ".....", ".....", ".....", ".....", ".....", ".....", "#####", "....."}, /* '_' */
    {".#...", "..#..", ".....", ".....", ".....", ".....", ".....", ".....", "....."}, /* '`' */
    {".....", ".....", ".###.", "....#", ".####", "#...#", ".####", ".....", "....."}, /* 'a' */
    {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####.", ".....", "....."}, /* 'b' */
    {".....", ".....", ".###.", "#....", "#....", "#...#", ".###.", ".....", "....."}, /* 'c' */
    {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####", ".....", "....."}, /* 'd' */
    {".....", ".....", ".###.", "#...#", "#####", "#....", ".###.", ".....", "....."}, /* 'e' */
    {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#...", ".....", "....."}, /* 'f' */
    {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."}, /* 'g' */
    {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#", ".....", "....."}, /* 'h' */
    {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###.", ".....", "....."}, /* 'i' */
    {"...#.", ".....", "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}, /* 'j' */
    {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#.", ".....", "....."}, /* 'k' */
    {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###.", ".....", "....."}, /* 'l' */
    {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#", ".....", "....."}, /* 'm' */
    {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#", ".....", "....."}, /* 'n' */
    {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###.", ".....", "....."}, /* 'o' */
    {".....", ".....", "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."}, /* 'p' */
    {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"}, /* 'q' */
    {".....", ".....", "#.##.", "##..#", "#....", "#....", "#....", ".....", "....."}, /* 'r' */
    {".....", ".....", ".####", "#....", ".###.", "....#", "####.", ".....", "....."}, /* 's' */
    {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##.", ".....", "....."}, /* 't' */
    {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#", ".....", "....."}, /* 'u' */
    {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#..", ".....", "....."}, /* 'v' */
    {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#.", ".....", "....."}, /* 'w' */
    {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", ".....", "....."}, /* 'x' */
    {".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."}, /* 'y' */
    {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####", ".....", "....."}, /* 'z' */
    {"...#.", "..#..", "..#..", ".#...", "..#..", "..#..", "...#.", ".....", "....."}, /* '{' */
    {"..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..", ".....", "....."}, /* '|' */
    {".#...", "..#..", "..#..", "...#.", "..#..", "..#..", ".#...", ".....", "....."}, /* '}' */
    {".....", ".....", ".#...", "#.#.#", "...#.", ".....", ".....", ".....", "....."}, /* '~' */
};

/* ---------------------------------------------------------------- canvas */

typedef struct rgb {
    unsigned char r, g, b;
} rgb;

typedef struct canvas {
    int w, h;
    unsigned char *px; /* w * h * 3 */
} canvas;

/* An antialiasing mask: 0..255 ink coverage per pixel. */
typedef struct mask {
    int w, h;
    unsigned char *a;
} mask;

static const rgb C_WHITE = {255, 255, 255};
static const rgb C_TITLE = {28, 32, 44};
static const rgb C_TEXT = {78, 84, 98};
static const rgb C_RULE = {218, 222, 228};
static const rgb C_FOLD = {34, 38, 50};
static const rgb C_FOLD_OLD = {255, 255, 255};
static const rgb C_BOUNDARY = {214, 32, 58};
static const rgb C_BELGIUM = {250, 222, 72};
static const rgb C_NETHERLANDS = {252, 249, 232};
static const rgb C_UNLABELLED = {158, 158, 160};
static const rgb C_TINT = {236, 84, 30};
static const rgb C_DECISION = {24, 44, 120};
static const rgb C_GRID = {232, 234, 238};
static const rgb C_PLAIN = {250, 250, 247};
static const rgb C_AXIS = {120, 126, 138};

/* Colours of the curves (a common qualitative palette). */
static const rgb series_col[8] = {
    {31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14},
    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {23, 190, 207},
};

static int canvas_new(canvas *c, int w, int h, rgb bg)
{
    c->w = w;
    c->h = h;
    c->px = malloc((size_t)w * (size_t)h * 3);
    if (!c->px)
        return crease__error(CREASE_ENOMEM, "no memory for a %dx%d picture", w, h);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        c->px[3 * i] = bg.r;
        c->px[3 * i + 1] = bg.g;
        c->px[3 * i + 2] = bg.b;
    }
    return CREASE_OK;
}

static int mask_new(mask *m, int w, int h)
{
    m->w = w;
    m->h = h;
    m->a = calloc((size_t)w * (size_t)h, 1);
    if (!m->a)
        return crease__error(CREASE_ENOMEM, "no memory for a %dx%d picture", w, h);
    return CREASE_OK;
}

static unsigned char mixc(unsigned char a, unsigned char b, double t)
{
    double v = a + (b - a) * t;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

static void blend(canvas *c, int x, int y, rgb col, double a)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0.0)
        return;
    unsigned char *p = c->px + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    if (a >= 1.0) {
        p[0] = col.r;
        p[1] = col.g;
        p[2] = col.b;
        return;
    }
    p[0] = mixc(p[0], col.r, a);
    p[1] = mixc(p[1], col.g, a);
    p[2] = mixc(p[2], col.b, a);
}

static void fill_rect(canvas *c, int x, int y, int w, int h, rgb col)
{
    for (int j = y < 0 ? 0 : y; j < y + h && j < c->h; j++)
        for (int i = x < 0 ? 0 : x; i < x + w && i < c->w; i++)
            blend(c, i, j, col, 1.0);
}

/* Ink of a segment of half-width hw into m (pixel centres at +0.5);
 * walked in short pieces so a long diagonal costs its length, not its
 * bounding box. */
static void mask_segment(mask *m, double x0, double y0, double x1, double y1, double hw)
{
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    double len = sqrt(len2);
    if (!isfinite(len))
        return;
    int pieces = (int)(len / 12.0) + 1;
    double r = hw + 1.0;
    for (int k = 0; k < pieces; k++) {
        double t0 = (double)k / pieces, t1 = (double)(k + 1) / pieces;
        double ax = x0 + t0 * dx, ay = y0 + t0 * dy, bx = x0 + t1 * dx, by = y0 + t1 * dy;
        int i0 = (int)floor(fmin(ax, bx) - r), i1 = (int)ceil(fmax(ax, bx) + r);
        int j0 = (int)floor(fmin(ay, by) - r), j1 = (int)ceil(fmax(ay, by) + r);
        if (i0 < 0) i0 = 0;
        if (j0 < 0) j0 = 0;
        if (i1 > m->w - 1) i1 = m->w - 1;
        if (j1 > m->h - 1) j1 = m->h - 1;
        for (int j = j0; j <= j1; j++)
            for (int i = i0; i <= i1; i++) {
                double px = i + 0.5 - x0, py = j + 0.5 - y0;
                double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0.0;
                t = t < 0 ? 0 : t > 1 ? 1 : t;
                double ex = px - t * dx, ey = py - t * dy;
                double cv = hw + 0.5 - sqrt(ex * ex + ey * ey);
                if (cv <= 0)
                    continue;
                unsigned v = cv >= 1 ? 255u : (unsigned)(cv * 255.0 + 0.5);
                unsigned char *q = m->a + (size_t)j * (size_t)m->w + (size_t)i;
                if (v > *q)
                    *q = (unsigned char)v;
            }
    }
}

static void mask_disk(mask *m, double cx, double cy, double rad)
{
    for (int j = (int)floor(cy - rad - 1); j <= (int)ceil(cy + rad + 1); j++)
        for (int i = (int)floor(cx - rad - 1); i <= (int)ceil(cx + rad + 1); i++) {
            if (i < 0 || j < 0 || i >= m->w || j >= m->h)
                continue;
            double cv = rad + 0.5 - hypot(i + 0.5 - cx, j + 0.5 - cy);
            if (cv <= 0)
                continue;
            unsigned v = cv >= 1 ? 255u : (unsigned)(cv * 255.0 + 0.5);
            unsigned char *q = m->a + (size_t)j * (size_t)m->w + (size_t)i;
            if (v > *q)
                *q = (unsigned char)v;
        }
}

/* Paints colour col through mask m (placed at ox, oy) with opacity alpha. */
static void mask_paint(canvas *c, const mask *m, int ox, int oy, rgb col, double alpha)
{
    for (int j = 0; j < m->h; j++)
        for (int i = 0; i < m->w; i++) {
            unsigned v = m->a[(size_t)j * (size_t)m->w + (size_t)i];
            if (v)
                blend(c, ox + i, oy + j, col, alpha * v / 255.0);
        }
}

/* ------------------------------------------------------------------ text */

static int text_width(const char *s, int scale)
{
    size_t n = strlen(s);
    return n ? (int)n * GLYPH_ADV * scale - scale : 0;
}

/* Text with its cap line at y; characters outside ASCII print as '?'. */
static void draw_text(canvas *c, int x, int y, int scale, rgb col, const char *s)
{
    for (; *s; s++, x += GLYPH_ADV * scale) {
        unsigned ch = (unsigned char)*s;
        if (ch < 32 || ch > 126)
            ch = '?';
        const char (*g)[GLYPH_W + 1] = font[ch - 32];
        for (int r = 0; r < GLYPH_H; r++)
            for (int k = 0; k < GLYPH_W; k++)
                if (g[r][k] == '#')
                    fill_rect(c, x + k * scale, y + r * scale, scale, scale, col);
    }
}

/* Largest scale (up to max) at which s fits in width; 1 if none does. */
static int fit_scale(const char *s, int width, int max)
{
    for (int k = max; k > 1; k--)
        if (text_width(s, k) <= width)
            return k;
    return 1;
}

/* Text cut to fit width at scale, with "..." where it was cut. */
static void draw_text_fit(canvas *c, int x, int y, int scale, rgb col, const char *s, int width)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    size_t n = strlen(buf);
    while (n > 3 && text_width(buf, scale) > width) {
        n--;
        buf[n] = '\0';
        memcpy(buf + n - 3, "...", 3);
    }
    draw_text(c, x, y, scale, col, buf);
}

/* 1234567 -> "1,234,567" */
static const char *fmt_count(double v, char *buf, size_t len)
{
    if (!isfinite(v)) {
        snprintf(buf, len, "inf");
        return buf;
    }
    if (v >= 1e15) {
        snprintf(buf, len, "%.3g", v);
        return buf;
    }
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t n = strlen(digits), k = 0;
    for (size_t i = 0; i < n && k + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

/* Huge values (bounds) compactly: "4.3e6"; smaller ones as fmt_count. */
static const char *fmt_big(double v, char *buf, size_t len)
{
    if (!isfinite(v) || v < 1e6)
        return fmt_count(v, buf, len);
    int e = (int)floor(log10(v));
    double mant = v / pow(10.0, e);
    if (mant >= 9.95) {
        mant /= 10;
        e++;
    }
    snprintf(buf, len, "%.1fe%d", mant, e);
    return buf;
}

/* A filled, anti-aliased disc of radius r at (cx, cy) with a white rim,
 * so that dots stay visible on any wash and over each other. */
static void dot(canvas *c, double cx, double cy, double r, rgb col)
{
    int i0 = (int)floor(cx - r - 2), i1 = (int)ceil(cx + r + 2);
    int j0 = (int)floor(cy - r - 2), j1 = (int)ceil(cy + r + 2);
    for (int j = j0; j <= j1; j++)
        for (int i = i0; i <= i1; i++) {
            double d = hypot(i + 0.5 - cx, j + 0.5 - cy);
            double rim = r + 1.0 + 0.5 - d, in = r + 0.5 - d;
            if (rim > 0)
                blend(c, i, j, C_WHITE, rim >= 1 ? 0.9 : 0.9 * rim);
            if (in > 0)
                blend(c, i, j, col, in >= 1 ? 1.0 : in);
        }
}

#define DRAW_POINTS_MAX 4000

/* Up to DRAW_POINTS_MAX labelled points of d, evenly spread over the set,
 * as dots in their class colour, into the panel of side s at row oy.
 * Returns how many were drawn (points outside the domain are not). */
static size_t draw_points(canvas *c, const crease_dataset *d, const crease_regions_opts *r, int s,
                          int oy)
{
    size_t n = crease_dataset_size(d), drawn = 0;
    const float *x = crease_dataset_x(d);
    const int *lab = crease_dataset_labels(d);
    size_t labelled = 0;
    for (size_t i = 0; i < n; i++)
        labelled += lab[i] >= 0;
    if (!labelled)
        return 0;
    double step = labelled > DRAW_POINTS_MAX ? (double)labelled / DRAW_POINTS_MAX : 1.0;
    double rad = s >= 400 ? 2.6 : 1.8, next = 0;
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (lab[i] < 0)
            continue;
        if ((double)seen++ < next)
            continue;
        next += step;
        double px = x[2 * i], py = x[2 * i + 1];
        if (!(px >= r->xmin && px <= r->xmax && py >= r->ymin && py <= r->ymax))
            continue;
        double u = (px - r->xmin) / (r->xmax - r->xmin) * s;
        double v = (r->ymax - py) / (r->ymax - r->ymin) * s;
        dot(c, u, oy + v, rad, series_col[lab[i] % 8]);
        drawn++;
    }
    return drawn;
}

/* -------------------------------------------------------------- header */

enum { LEG_SWATCH, LEG_LINE, LEG_MULTI, LEG_CLASSES, LEG_DOT };

typedef struct legend_item {
    int kind;
    rgb col;
    const char *text;
} legend_item;

static rgb region_colour(uint64_t h);

/* The band on top: a title line and a legend line, then a thin rule. */
static void draw_header(canvas *c, const char *title, const legend_item *items, int n)
{
    int w = c->w;
    fill_rect(c, 0, 0, w, CREASE_DRAW_HEADER, C_WHITE);
    int ts = fit_scale(title, w - 24, 3);
    if (ts < 2 && w >= 480)
        ts = 2; /* smaller is hard to read: cut the title instead */
    draw_text_fit(c, 12, ts == 3 ? 8 : 12, ts, C_TITLE, title, w - 24);

    /* legend: scale 2 if everything fits on the line, else 1 */
    int ls = 2;
    for (;;) {
        int total = 12;
        for (int i = 0; i < n; i++)
            total += (items[i].kind == LEG_LINE ? 26 : 7 * ls) + 6 + text_width(items[i].text, ls) + 9 * ls;
        if (total <= w || ls == 1)
            break;
        ls = 1;
    }
    int x = 12, y = 40, hgt = 7 * ls;
    mask m = {0, 0, NULL};
    for (int i = 0; i < n; i++) {
        const legend_item *it = &items[i];
        if (it->kind == LEG_LINE) {
            if (it->col.r + it->col.g + it->col.b > 600) /* a light line: show it on a region */
                fill_rect(c, x, y, 24, hgt, region_colour(7));
            if (mask_new(&m, 24, hgt) == CREASE_OK) {
                mask_segment(&m, 1, hgt / 2.0, 23, hgt / 2.0, 1.3);
                mask_paint(c, &m, x, y, it->col, 1.0);
                free(m.a);
            }
            x += 26;
        } else if (it->kind == LEG_DOT) {
            dot(c, x + hgt / 2.0, y + hgt / 2.0, hgt * 0.42, series_col[0]);
            x += hgt;
        } else if (it->kind == LEG_SWATCH) {
            fill_rect(c, x, y, hgt, hgt, C_AXIS);
            fill_rect(c, x + 1, y + 1, hgt - 2, hgt - 2, it->col);
            x += hgt;
        } else {
            /* a 2 x 2 sample of region (or class) colours */
            int hh = hgt / 2;
            for (int k = 0; k < 4; k++) {
                rgb kc = it->kind == LEG_CLASSES
                             ? series_col[k]
                             : region_colour(0x9e3779b97f4a7c15ull * (uint64_t)(k + 3));
                fill_rect(c, x + (k & 1) * hh, y + (k >> 1) * hh, hh + (k & 1) * (hgt - 2 * hh),
                          hh + (k >> 1) * (hgt - 2 * hh), kc);
            }
            x += hgt;
        }
        x += 6;
        if (x >= w)
            break;
        draw_text_fit(c, x, y, ls, C_TEXT, it->text, w - x - 4);
        x += text_width(it->text, ls) + 9 * ls;
    }
    fill_rect(c, 0, CREASE_DRAW_HEADER - 1, w, 1, C_RULE);
}

/* ------------------------------------------------------------- options */

void crease_draw_opts_default(crease_draw_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->boundary = 1;
    crease_regions_opts_default(&o->regions);
}

static int get_opts(const crease_draw_opts *in, crease_draw_opts *o, const char *path,
                    const char *who, int default_size)
{
    if (in)
        *o = *in;
    else
        crease_draw_opts_default(o);
    if (!path || !*path)
        return crease__error(CREASE_EINVAL, "%s: no output path", who);
    if (o->size == 0)
        o->size = default_size;
    if (o->size < 64 || o->size > 4096)
        return crease__error(CREASE_EINVAL, "%s: panel size %d out of 64..4096", who, o->size);
    const crease_regions_opts *r = &o->regions;
    if (!(r->xmin < r->xmax) || !(r->ymin < r->ymax) || !isfinite(r->xmax - r->xmin) ||
        !isfinite(r->ymax - r->ymin))
        return crease__error(CREASE_EINVAL, "%s: the domain [%g, %g] x [%g, %g] is empty or "
                             "not finite", who, r->xmin, r->xmax, r->ymin, r->ymax);
    return CREASE_OK;
}

/* The title of a picture: o->title if given, else the default from fmt. */
static void make_title(char *buf, size_t len, const crease_draw_opts *o, const char *fmt, ...)
    CREASE_PRINTF(4, 5);
static void make_title(char *buf, size_t len, const crease_draw_opts *o, const char *fmt, ...)
{
    if (o->title) {
        snprintf(buf, len, "%s", o->title);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Pixel (x right, y down) of plane point (px, py) in a panel of side s. */
static double to_px(const crease_regions_opts *r, int s, double x)
{
    return (x - r->xmin) / (r->xmax - r->xmin) * s;
}

static double to_py(const crease_regions_opts *r, int s, double y)
{
    return (r->ymax - y) / (r->ymax - r->ymin) * s;
}

/* ------------------------------------------------------------ decision */

/* Samples an RGBA image stretched over a panel of side s at pixel (i, j),
 * bilinearly, composited over white. */
static rgb sample_rgba(const unsigned char *img, int w, int h, int s, int i, int j)
{
    double u = (i + 0.5) * w / s - 0.5, v = (j + 0.5) * h / s - 0.5;
    int x0 = (int)floor(u), y0 = (int)floor(v);
    double fx = u - x0, fy = v - y0;
    double acc[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        int x = x0 + (k & 1), y = y0 + (k >> 1);
        x = x < 0 ? 0 : x >= w ? w - 1 : x;
        y = y < 0 ? 0 : y >= h ? h - 1 : y;
        double wk = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
        const unsigned char *p = img + 4 * ((size_t)y * (size_t)w + (size_t)x);
        double a = p[3] / 255.0;
        for (int c = 0; c < 3; c++)
            acc[c] += wk * (p[c] * a + 255.0 * (1 - a));
    }
    rgb o = {(unsigned char)(acc[0] + 0.5), (unsigned char)(acc[1] + 0.5), (unsigned char)(acc[2] + 0.5)};
    return o;
}

/* The built-in label mask in map colours, as RGBA. */
static int label_mask_rgba(unsigned char **img, uint32_t *w, uint32_t *h)
{
    int st = crease__png_decode("built-in baarle-labels.png", crease__baarle_png,
                                crease__baarle_png_len, CREASE__PNG_RGBA, img, w, h);
    if (st)
        return st;
    for (size_t i = 0; i < (size_t)*w * (size_t)*h; i++) {
        unsigned char *p = *img + 4 * i;
        rgb c = p[0] == 255 ? C_BELGIUM : p[0] == 0 ? C_NETHERLANDS : C_UNLABELLED;
        p[0] = c.r;
        p[1] = c.g;
        p[2] = c.b;
        p[3] = 255;
    }
    return CREASE_OK;
}

/* f (the decision function) at the s x s pixel centres of the panel: the
 * logit for one output, logit1 - logit0 for two, and for more the margin
 * of the best class over the second (cls gets the best class). */
static int eval_panel(crease_net *net, const crease_regions_opts *r, int s, float *f,
                      unsigned char *cls)
{
    int K = crease_net_outputs(net);
    const int rows_per = 64;
    float *x = malloc((size_t)rows_per * (size_t)s * 2 * sizeof *x);
    float *y = malloc((size_t)rows_per * (size_t)s * (size_t)K * sizeof *y);
    int st = CREASE_OK;
    if (!x || !y)
        st = crease__error(CREASE_ENOMEM, "no memory to evaluate the net on a %dx%d grid", s, s);
    for (int j0 = 0; j0 < s && !st; j0 += rows_per) {
        int nr = s - j0 < rows_per ? s - j0 : rows_per;
        for (int j = 0; j < nr; j++)
            for (int i = 0; i < s; i++) {
                size_t k = (size_t)j * (size_t)s + (size_t)i;
                x[2 * k] = (float)(r->xmin + (i + 0.5) * (r->xmax - r->xmin) / s);
                x[2 * k + 1] = (float)(r->ymax - (j0 + j + 0.5) * (r->ymax - r->ymin) / s);
            }
        st = crease_net_predict(net, (size_t)nr * (size_t)s, x, y);
        for (size_t k = 0; k < (size_t)nr * (size_t)s && !st; k++) {
            const float *o = y + k * (size_t)K;
            size_t at = (size_t)j0 * (size_t)s + k;
            if (K == 1) {
                f[at] = o[0];
                cls[at] = o[0] > 0;
            } else if (K == 2) {
                f[at] = o[1] - o[0];
                cls[at] = o[1] > o[0];
            } else {
                int b = 0;
                for (int c = 1; c < K; c++)
                    if (o[c] > o[b])
                        b = c;
                float second = -INFINITY;
                for (int c = 0; c < K; c++)
                    if (c != b && o[c] > second)
                        second = o[c];
                f[at] = o[b] - second;
                cls[at] = (unsigned char)(b > 255 ? 255 : b);
            }
        }
    }
    free(x);
    free(y);
    return st;
}

/* Antialiased zero line of f: distance |f| / |grad f| in pixels, with the
 * gradient from one-sided differences (the larger one, so a kink of a
 * piecewise-linear f does not thin the line). */
static void boundary_mask(const float *f, int s, mask *m, double hw)
{
    for (int j = 0; j < s; j++)
        for (int i = 0; i < s; i++) {
            size_t k = (size_t)j * (size_t)s + (size_t)i;
            double v = fabs((double)f[k]);
            if (!isfinite(v))
                continue;
            double gx = 0, gy = 0;
            if (i > 0) gx = fmax(gx, fabs((double)f[k] - f[k - 1]));
            if (i + 1 < s) gx = fmax(gx, fabs((double)f[k + 1] - f[k]));
            if (j > 0) gy = fmax(gy, fabs((double)f[k] - f[k - (size_t)s]));
            if (j + 1 < s) gy = fmax(gy, fabs((double)f[k + (size_t)s] - f[k]));
            double g = hypot(gx, gy);
            if (!(g > 0))
                continue;
            double cv = hw + 0.5 - v / g;
            if (cv > 0)
                m->a[k] = (unsigned char)(cv >= 1 ? 255 : cv * 255 + 0.5);
        }
}

crease_status crease_draw_decision(crease_net *net, const char *path, const crease_draw_opts *opts)
{
    static const char who[] = "crease_draw_decision";
    crease_draw_opts o;
    int st = get_opts(opts, &o, path, who, 800);
    if (st)
        return st;
    if (!net)
        return crease__error(CREASE_EINVAL, "%s: net is NULL", who);
    if (crease_net_inputs(net) != 2)
        return crease__error(CREASE_EINVAL, "%s: the network %s has %d inputs; a picture of the "
                             "plane needs 2", who, crease_net_spec(net), crease_net_inputs(net));
    const int s = o.size, K = crease_net_outputs(net);
    unsigned char *bg = NULL, *cls = NULL;
    uint32_t bw = 0, bh = 0;
    float *f = NULL;
    canvas c = {0, 0, NULL};
    mask m = {0, 0, NULL};

    /* plain: the data's own points over a neutral ground, for data that
     * is not the Baarle map */
    const int plain = !o.background && o.points;
    if (plain && crease_dataset_dim(o.points) != 2)
        return crease__error(CREASE_EINVAL, "%s: the points have %d features; a picture of the "
                             "plane needs 2", who, crease_dataset_dim(o.points));
    st = o.background ? crease__png_read(o.background, CREASE__PNG_RGBA, &bg, &bw, &bh)
         : plain      ? 0
                      : label_mask_rgba(&bg, &bw, &bh);
    if (!st) {
        f = malloc((size_t)s * (size_t)s * sizeof *f);
        cls = malloc((size_t)s * (size_t)s);
        if (!f || !cls)
            st = crease__error(CREASE_ENOMEM, "%s: no memory for a %dx%d picture", who, s, s);
    }
    if (!st)
        st = eval_panel(net, &o.regions, s, f, cls);
    if (!st)
        st = canvas_new(&c, s, s + CREASE_DRAW_HEADER, C_WHITE);
    if (!st)
        st = mask_new(&m, s, s);
    if (!st) {
        const int oy = CREASE_DRAW_HEADER;
        for (int j = 0; j < s; j++)
            for (int i = 0; i < s; i++) {
                size_t k = (size_t)j * (size_t)s + (size_t)i;
                if (plain) {
                    /* every class its own light wash */
                    blend(&c, i, oy + j, C_PLAIN, 1.0);
                    blend(&c, i, oy + j, series_col[cls[k] % 8], 0.16);
                    continue;
                }
                rgb p = sample_rgba(bg, (int)bw, (int)bh, s, i, j);
                blend(&c, i, oy + j, p, 1.0);
                if (K <= 2) {
                    /* predicted class 1: a warm wash; yellow Belgium turns
                     * orange, a wrong guess on the cream turns salmon */
                    if (cls[k])
                        blend(&c, i, oy + j, C_TINT, 0.38);
                } else {
                    blend(&c, i, oy + j, series_col[cls[k] % 8], 0.38);
                }
            }
        boundary_mask(f, s, &m, 1.25);
        mask_paint(&c, &m, 0, oy, C_DECISION, 1.0);
        size_t drawn = plain ? draw_points(&c, o.points, &o.regions, s, oy) : 0;

        char title[256];
        make_title(title, sizeof title, &o, "Decision boundary of %s", crease_net_spec(net));
        legend_item items[8];
        int n = 0;
        char cnames[4][24], pts[64];
        if (plain) {
            int shown = K <= 2 ? 2 : K < 4 ? K : 4;
            for (int q = 0; q < shown; q++) {
                snprintf(cnames[q], sizeof cnames[q], q == 3 && K > 4 ? "class 3, ..." : "class %d", q);
                items[n++] = (legend_item){LEG_SWATCH, series_col[q], cnames[q]};
            }
            items[n++] = (legend_item){LEG_LINE, C_DECISION, "decision boundary"};
            char cnt[32];
            snprintf(pts, sizeof pts, "%s points", fmt_count((double)drawn, cnt, sizeof cnt));
            items[n++] = (legend_item){LEG_DOT, C_TEXT, pts};
        } else if (!o.background) {
            items[n++] = (legend_item){LEG_SWATCH, C_BELGIUM, "Belgium"};
            items[n++] = (legend_item){LEG_SWATCH, C_NETHERLANDS, "Netherlands"};
        }
        rgb tinted = {mixc(C_BELGIUM.r, C_TINT.r, 0.38), mixc(C_BELGIUM.g, C_TINT.g, 0.38),
                      mixc(C_BELGIUM.b, C_TINT.b, 0.38)};
        if (plain)
            ; /* legend complete */
        else if (K <= 2)
            items[n++] = (legend_item){LEG_SWATCH, tinted, "predicted Belgium"};
        else
            items[n++] = (legend_item){LEG_CLASSES, tinted, "predicted class"};
        if (!plain)
            items[n++] = (legend_item){LEG_LINE, C_DECISION, "decision boundary"};
        draw_header(&c, title, items, n);
        st = crease__png_write_rgb(path, c.px, c.w, c.h, title);
    }
    free(bg);
    free(cls);
    free(f);
    free(c.px);
    free(m.a);
    return st;
}

/* ------------------------------------------------------------- regions */

/* A pleasant colour from a pattern hash: one of a set of soft pastels,
 * its brightness varied a little so that two neighbours that draw the same
 * pastel still differ; dark fold lines stay readable on all of them. */
static rgb region_colour(uint64_t h)
{
    static const rgb pastel[16] = {
        {141, 211, 199}, {255, 234, 150}, {190, 186, 218}, {250, 160, 146},
        {128, 177, 211}, {253, 192, 134}, {179, 222, 105}, {250, 205, 228},
        {204, 235, 197}, {188, 155, 200}, {166, 206, 227}, {255, 214, 110},
        {200, 230, 240}, {238, 180, 200}, {170, 220, 170}, {222, 203, 170},
    };
    h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    rgb c = pastel[h & 15];
    double k = 0.90 + 0.12 * (double)((h >> 8) & 0xff) / 255.0;
    rgb o = {(unsigned char)fmin(255.0, c.r * k + 0.5), (unsigned char)fmin(255.0, c.g * k + 0.5),
             (unsigned char)fmin(255.0, c.b * k + 0.5)};
    return o;
}

/* Fills the convex polygon pxy (pixel coordinates) into an s x s RGB panel:
 * every pixel whose centre lies inside. */
static void fill_convex(unsigned char *rgbp, int s, const double *pxy, int m, rgb col)
{
    double ylo = pxy[1], yhi = pxy[1];
    for (int i = 1; i < m; i++) {
        ylo = fmin(ylo, pxy[2 * i + 1]);
        yhi = fmax(yhi, pxy[2 * i + 1]);
    }
    int r0 = (int)ceil(ylo - 0.5), r1 = (int)floor(yhi - 0.5);
    if (r0 < 0) r0 = 0;
    if (r1 > s - 1) r1 = s - 1;
    for (int r = r0; r <= r1; r++) {
        double yc = r + 0.5, xl = INFINITY, xr = -INFINITY;
        for (int i = 0; i < m; i++) {
            int j = i + 1 == m ? 0 : i + 1;
            double y0 = pxy[2 * i + 1], y1 = pxy[2 * j + 1];
            if ((y0 <= yc && yc <= y1) || (y1 <= yc && yc <= y0)) {
                double x;
                if (y1 == y0) {
                    xl = fmin(xl, fmin(pxy[2 * i], pxy[2 * j]));
                    xr = fmax(xr, fmax(pxy[2 * i], pxy[2 * j]));
                    continue;
                }
                x = pxy[2 * i] + (yc - y0) * (pxy[2 * j] - pxy[2 * i]) / (y1 - y0);
                xl = fmin(xl, x);
                xr = fmax(xr, x);
            }
        }
        if (!(xl <= xr))
            continue;
        int c0 = (int)ceil(xl - 0.5), c1 = (int)ceil(xr - 0.5) - 1;
        if (c0 < 0) c0 = 0;
        if (c1 > s - 1) c1 = s - 1;
        for (int cc = c0; cc <= c1; cc++) {
            unsigned char *p = rgbp + 3 * ((size_t)r * (size_t)s + (size_t)cc);
            p[0] = col.r;
            p[1] = col.g;
            p[2] = col.b;
        }
    }
}

/* One panel: the fills, the folds older than its layer, its own folds. */
typedef struct panel {
    unsigned char *rgbp;
    mask old_folds, new_folds;
} panel;

typedef struct rctx {
    int L, s;
    int first, count;      /* panels show layers first .. first+count-1 */
    int split_new;         /* colour a layer's own folds apart */
    const crease_regions_opts *r;
    panel *p;
    mask bound, halo;      /* decision boundary (last layer) and its light rim */
    int want_boundary, K;
    double *pxy;
    int cap;
    int err;
} rctx;

static int region_cell(const crease_region_cell *cell, void *user)
{
    rctx *x = user;
    int idx = cell->layer - x->first;
    if (cell->layer < 0)
        idx = 0;
    if (idx < 0 || idx >= x->count)
        return 0;
    panel *pn = &x->p[idx];
    int m = cell->nverts;
    if (m > x->cap) {
        double *q = realloc(x->pxy, (size_t)m * 2 * 2 * sizeof *q);
        if (!q) {
            x->err = crease__error(CREASE_ENOMEM, "out of memory while drawing regions");
            return 1;
        }
        x->pxy = q;
        x->cap = 2 * m;
    }
    for (int i = 0; i < m; i++) {
        x->pxy[2 * i] = to_px(x->r, x->s, cell->xy[2 * i]);
        x->pxy[2 * i + 1] = to_py(x->r, x->s, cell->xy[2 * i + 1]);
    }
    fill_convex(pn->rgbp, x->s, x->pxy, m, region_colour(cell->pattern_hash));
    for (int i = 0; i < m; i++) {
        int lab = cell->edge_layer[i];
        if (lab < 0)
            continue; /* the domain's border is no fold */
        int j = i + 1 == m ? 0 : i + 1;
        mask *mk = x->split_new && lab == cell->layer ? &pn->new_folds : &pn->old_folds;
        mask_segment(mk, x->pxy[2 * i], x->pxy[2 * i + 1], x->pxy[2 * j], x->pxy[2 * j + 1], 0.5);
    }
    if (x->want_boundary && cell->out_affine && x->K <= 2) {
        /* the decision line is straight inside a cell: clip it to the cell */
        const double *o = cell->out_affine;
        double a = o[0], b = o[1], c = o[2];
        if (x->K == 2) {
            a = o[3] - o[0];
            b = o[4] - o[1];
            c = o[5] - o[2];
        }
        double pts[4];
        int np = 0;
        for (int i = 0; i < m && np < 2; i++) {
            int j = i + 1 == m ? 0 : i + 1;
            double di = a * cell->xy[2 * i] + b * cell->xy[2 * i + 1] + c;
            double dj = a * cell->xy[2 * j] + b * cell->xy[2 * j + 1] + c;
            if ((di <= 0 && dj > 0) || (di > 0 && dj <= 0)) {
                double t = di / (di - dj);
                pts[2 * np] = x->pxy[2 * i] + t * (x->pxy[2 * j] - x->pxy[2 * i]);
                pts[2 * np + 1] = x->pxy[2 * i + 1] + t * (x->pxy[2 * j + 1] - x->pxy[2 * i + 1]);
                np++;
            }
        }
        if (np == 2) {
            mask_segment(&x->bound, pts[0], pts[1], pts[2], pts[3], 1.25);
            mask_segment(&x->halo, pts[0], pts[1], pts[2], pts[3], 2.75);
        }
    }
    return 0;
}

static void rctx_free(rctx *x)
{
    if (x->p)
        for (int i = 0; i < x->count; i++) {
            free(x->p[i].rgbp);
            free(x->p[i].old_folds.a);
            free(x->p[i].new_folds.a);
        }
    free(x->p);
    free(x->bound.a);
    free(x->halo.a);
    free(x->pxy);
}

/* Walks the regions of net and fills panels for layers first.. of side s. */
static int draw_walk(crease_net *net, const crease_draw_opts *o, const char *who, int split_new,
                     int all_layers, rctx *x, crease_regions_result *res)
{
    memset(x, 0, sizeof *x);
    if (!net)
        return crease__error(CREASE_EINVAL, "%s: net is NULL", who);
    int L = crease_net_layers(net) - 1;
    x->L = L;
    x->s = o->size;
    x->r = &o->regions;
    x->split_new = split_new;
    x->first = all_layers ? 0 : L - 1;
    x->count = all_layers && L > 0 ? L : 1;
    x->K = crease_net_outputs(net);
    x->want_boundary = o->boundary;
    x->p = calloc((size_t)x->count, sizeof *x->p);
    if (!x->p)
        return crease__error(CREASE_ENOMEM, "%s: out of memory", who);
    int st = mask_new(&x->bound, x->s, x->s);
    if (!st)
        st = mask_new(&x->halo, x->s, x->s);
    for (int i = 0; i < x->count && !st; i++) {
        x->p[i].rgbp = malloc((size_t)x->s * (size_t)x->s * 3);
        if (!x->p[i].rgbp)
            st = crease__error(CREASE_ENOMEM, "%s: no memory for the panels", who);
        if (!st)
            st = mask_new(&x->p[i].old_folds, x->s, x->s);
        if (!st)
            st = mask_new(&x->p[i].new_folds, x->s, x->s);
        if (!st)
            memset(x->p[i].rgbp, 255, (size_t)x->s * (size_t)x->s * 3);
    }
    if (st)
        return st;
    st = crease_regions_foreach(net, &o->regions, region_cell, x, res);
    if (!st && x->err)
        st = x->err;
    if (!st && !res->complete) {
        char b[32];
        st = crease__error(CREASE_ENOMEM, "%s: %s has more linear regions than the limit "
                           "(max_cells %s%s); raise opts.regions.max_cells to draw them", who,
                           crease_net_spec(net), fmt_count((double)o->regions.max_cells, b, sizeof b),
                           o->regions.time_limit > 0 ? " or time_limit" : "");
    }
    return st;
}

/* Opacity of fold lines: full where cells are large, lighter where they
 * are only a few pixels across, so a dense map does not turn black. */
static double fold_alpha(int s, size_t cells)
{
    double side = s / sqrt((double)(cells ? cells : 1));
    double a = 0.30 + side / 14.0;
    return a > 0.9 ? 0.9 : a;
}

static void compose_panel(canvas *c, const rctx *x, int i, int ox, int oy, size_t cells, int with_boundary)
{
    const panel *pn = &x->p[i];
    for (int j = 0; j < x->s; j++)
        memcpy(c->px + 3 * ((size_t)(oy + j) * (size_t)c->w + (size_t)ox),
               pn->rgbp + 3 * (size_t)j * (size_t)x->s, (size_t)x->s * 3);
    double a = fold_alpha(x->s, cells);
    if (x->split_new) {
        mask_paint(c, &pn->old_folds, ox, oy, C_FOLD_OLD, 0.8);
        mask_paint(c, &pn->new_folds, ox, oy, C_FOLD, fmin(1.0, a + 0.1));
    } else {
        mask_paint(c, &pn->old_folds, ox, oy, C_FOLD, a);
    }
    if (with_boundary) {
        mask_paint(c, &x->halo, ox, oy, C_WHITE, 0.85);
        mask_paint(c, &x->bound, ox, oy, C_BOUNDARY, 1.0);
    }
}

crease_status crease_draw_regions(crease_net *net, const char *path, const crease_draw_opts *opts)
{
    static const char who[] = "crease_draw_regions";
    crease_draw_opts o;
    int st = get_opts(opts, &o, path, who, 800);
    if (st)
        return st;
    rctx x;
    crease_regions_result res;
    canvas c = {0, 0, NULL};
    st = draw_walk(net, &o, who, 0, 0, &x, &res);
    if (!st)
        st = canvas_new(&c, o.size, o.size + CREASE_DRAW_HEADER, C_WHITE);
    if (!st) {
        compose_panel(&c, &x, 0, 0, CREASE_DRAW_HEADER, res.regions, o.boundary && x.K <= 2);
        char title[256], b1[32], b2[32];
        make_title(title, sizeof title, &o, "%s linear regions of %s (max %s)",
                   fmt_count((double)res.regions, b1, sizeof b1), crease_net_spec(net),
                   fmt_big(res.upper_bound, b2, sizeof b2));
        legend_item items[3] = {
            {LEG_MULTI, C_WHITE, "one colour per region"},
            {LEG_LINE, C_FOLD, "fold lines"},
            {LEG_LINE, C_BOUNDARY, "decision boundary"},
        };
        draw_header(&c, title, items, o.boundary && x.K <= 2 ? 3 : 2);
        st = crease__png_write_rgb(path, c.px, c.w, c.h, title);
    }
    rctx_free(&x);
    free(c.px);
    return st;
}

crease_status crease_draw_region_layers(crease_net *net, const char *path,
                                        const crease_draw_opts *opts)
{
    static const char who[] = "crease_draw_region_layers";
    crease_draw_opts o;
    int st = get_opts(opts, &o, path, who, 480);
    if (st)
        return st;
    rctx x;
    crease_regions_result res;
    canvas c = {0, 0, NULL};
    st = draw_walk(net, &o, who, 1, 1, &x, &res);
    int n = x.count, cols = n < 4 ? n : 4, rows = cols ? (n + cols - 1) / cols : 0;
    const int G = CREASE_DRAW_GAP, CAP = CREASE_DRAW_CAPTION, s = o.size;
    if (!st)
        st = canvas_new(&c, cols * s + (cols + 1) * G, CREASE_DRAW_HEADER + rows * (CAP + s + G),
                        (rgb){246, 247, 249});
    if (!st) {
        for (int i = 0; i < n; i++) {
            int ox = G + (i % cols) * (s + G);
            int oy = CREASE_DRAW_HEADER + (i / cols) * (CAP + s + G) + CAP;
            size_t cells = x.L ? res.cells[i] : 1;
            compose_panel(&c, &x, i, ox, oy, cells, i == n - 1 && o.boundary && x.K <= 2);
            /* "layer 2: 4,434 regions" on the left, "max 4.3e6" on the right */
            char cap[160], right[64], b1[32], b2[32];
            right[0] = '\0';
            if (x.L) {
                snprintf(cap, sizeof cap, "layer %d: %s region%s", i + 1,
                         fmt_count((double)cells, b1, sizeof b1), cells == 1 ? "" : "s");
                snprintf(right, sizeof right, "%d neurons, max %s", res.widths[i],
                         fmt_big(res.upper[i], b2, sizeof b2));
            } else {
                snprintf(cap, sizeof cap, "no hidden layer: 1 region");
            }
            int cs = fit_scale(cap, s, 2), cy = oy - CAP + (CAP - 7 * cs) / 2 - 1;
            draw_text_fit(&c, ox, cy, cs, C_TITLE, cap, s);
            int rw = text_width(right, cs);
            if (!right[0] || text_width(cap, cs) + 24 + rw > s) {
                /* try the short form */
                snprintf(right, sizeof right, "max %s", x.L ? fmt_big(res.upper[i], b2, sizeof b2) : "1");
                rw = text_width(right, cs);
            }
            if (x.L && text_width(cap, cs) + 24 + rw <= s)
                draw_text(&c, ox + s - rw, cy, cs, C_TEXT, right);
        }
        char title[256];
        make_title(title, sizeof title, &o, "How regions multiply, layer by layer: %s",
                   crease_net_spec(net));
        legend_item items[3] = {
            {LEG_LINE, C_FOLD, "folds of this layer"},
            {LEG_LINE, C_FOLD_OLD, "earlier folds"},
            {LEG_LINE, C_BOUNDARY, "decision boundary"},
        };
        draw_header(&c, title, items, o.boundary && x.K <= 2 ? 3 : 2);
        st = crease__png_write_rgb(path, c.px, c.w, c.h, title);
    }
    rctx_free(&x);
    free(c.px);
    return st;
}

/* -------------------------------------------------------------- curves */

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about n ticks. */
static double nice_step(double range, int n)
{
    double raw = range / n, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

typedef struct plot {
    int x0, y0, w, h;          /* plot area on the canvas */
    double xmin, xmax, ymin, ymax;
} plot;

static double plot_x(const plot *p, double v)
{
    return p->x0 + (v - p->xmin) / (p->xmax - p->xmin) * p->w;
}

static double plot_y(const plot *p, double v)
{
    return p->y0 + p->h - (v - p->ymin) / (p->ymax - p->ymin) * p->h;
}

/* Axes, grid and tick labels of one plot, with its name on top. */
static void draw_axes(canvas *c, const plot *p, const char *name, int integer_x)
{
    fill_rect(c, p->x0, p->y0, p->w, p->h, C_WHITE);
    double ys = nice_step(p->ymax - p->ymin, 5);
    int dec = ys >= 1 ? 0 : (int)ceil(-log10(ys) - 1e-9);
    for (double v = ceil(p->ymin / ys - 1e-9) * ys; v <= p->ymax + ys * 1e-6; v += ys) {
        int y = (int)lround(plot_y(p, v));
        fill_rect(c, p->x0, y, p->w, 1, C_GRID);
        char b[32];
        snprintf(b, sizeof b, "%.*f", dec, fabs(v) < ys * 1e-6 ? 0.0 : v);
        draw_text(c, p->x0 - 8 - text_width(b, 2), y - 7, 2, C_TEXT, b);
    }
    double xs = nice_step(p->xmax - p->xmin, 6);
    if (integer_x && xs < 1)
        xs = 1;
    for (double v = ceil(p->xmin / xs - 1e-9) * xs; v <= p->xmax + xs * 1e-6; v += xs) {
        int x = (int)lround(plot_x(p, v));
        fill_rect(c, x, p->y0, 1, p->h, C_GRID);
        fill_rect(c, x, p->y0 + p->h, 1, 5, C_AXIS);
        char b[32];
        snprintf(b, sizeof b, "%g", v);
        draw_text(c, x - text_width(b, 2) / 2, p->y0 + p->h + 10, 2, C_TEXT, b);
    }
    fill_rect(c, p->x0, p->y0 + p->h, p->w + 1, 1, C_AXIS);
    fill_rect(c, p->x0, p->y0, 1, p->h, C_AXIS);
    draw_text(c, p->x0, p->y0 - 26, 2, C_TITLE, name);
    draw_text(c, p->x0 + p->w - text_width("epoch", 2), p->y0 + p->h + 32, 2, C_TEXT, "epoch");
}

static void draw_series(canvas *c, mask *m, const plot *p, const double *v, int n, rgb col)
{
    memset(m->a, 0, (size_t)m->w * (size_t)m->h);
    int have_prev = 0;
    double px = 0, py = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            have_prev = 0;
            continue;
        }
        double x = plot_x(p, i + 1), y = plot_y(p, v[i]);
        if (have_prev)
            mask_segment(m, px, py, x, y, 1.1);
        if (n <= 40)
            mask_disk(m, x, y, 3.0);
        px = x;
        py = y;
        have_prev = 1;
    }
    mask_paint(c, m, 0, 0, col, 1.0);
}

/* Range of the finite values of one kind over all curves. */
static int value_range(int count, const crease_curve *cv, int which, double *lo, double *hi)
{
    int any = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int k = 0; k < count; k++) {
        const double *v = which ? cv[k].balanced_accuracy : cv[k].loss;
        for (int i = 0; v && i < cv[k].n; i++)
            if (isfinite(v[i])) {
                *lo = fmin(*lo, v[i]);
                *hi = fmax(*hi, v[i]);
                any = 1;
            }
    }
    return any;
}

crease_status crease_draw_curves(const char *path, int count, const crease_curve *curves,
                                 const crease_draw_opts *opts)
{
    static const char who[] = "crease_draw_curves";
    crease_draw_opts o;
    int st = get_opts(opts, &o, path, who, 800);
    if (st)
        return st;
    if (o.width == 0)
        o.width = 1200;
    if (o.height == 0)
        o.height = 520;
    if (o.width < 320 || o.width > MAX_SIDE || o.height < 240 || o.height > MAX_SIDE)
        return crease__error(CREASE_EINVAL, "%s: size %dx%d out of 320..%d x 240..%d", who,
                             o.width, o.height, MAX_SIDE, MAX_SIDE);
    if (count < 1 || count > 8 || !curves)
        return crease__error(CREASE_EINVAL, "%s: %d curves (1..8 can be drawn)", who, count);
    int nmax = 1;
    for (int k = 0; k < count; k++) {
        if (curves[k].n < 1 || curves[k].n > 10000000)
            return crease__error(CREASE_EINVAL, "%s: curve %d has %d points", who, k + 1,
                                 curves[k].n);
        if (curves[k].n > nmax)
            nmax = curves[k].n;
    }

    canvas c = {0, 0, NULL};
    mask m = {0, 0, NULL};
    st = canvas_new(&c, o.width, o.height, (rgb){246, 247, 249});
    if (!st)
        st = mask_new(&m, o.width, o.height);
    if (!st) {
        const int left = 86, right = 28, top = CREASE_DRAW_HEADER + 44, bottom = 62, mid = 96;
        int pw = (o.width - left - right - mid) / 2, ph = o.height - top - bottom;
        plot pl[2];
        for (int q = 0; q < 2; q++) {
            plot *p = &pl[q];
            p->x0 = left + q * (pw + mid);
            p->y0 = top;
            p->w = pw;
            p->h = ph;
            p->xmin = 1;
            p->xmax = nmax > 1 ? nmax : 2;
            double lo, hi;
            if (!value_range(count, curves, q, &lo, &hi)) {
                lo = 0;
                hi = 1;
            }
            if (q == 1) {
                /* accuracies: show up to 1, and never below 0 */
                hi = 1.0;
                lo = fmax(0.0, lo - 0.05 * (hi - lo));
            } else {
                double pad = hi > lo ? 0.06 * (hi - lo) : fmax(0.1 * fabs(hi), 0.5);
                lo = lo - pad;
                hi = hi + pad;
                if (lo < 0 && hi > 0 && lo > -0.2 * hi)
                    lo = 0; /* losses are non-negative: start at 0 when close */
            }
            if (!(hi > lo))
                hi = lo + 1;
            double step = nice_step(hi - lo, 5);
            p->ymin = floor(lo / step + 1e-9) * step;
            p->ymax = ceil(hi / step - 1e-9) * step;
            if (q == 1 && p->ymax > 1.0)
                p->ymax = 1.0;
            if (!(p->ymax > p->ymin))
                p->ymax = p->ymin + step;
            draw_axes(&c, p, q ? "balanced accuracy" : "loss", 1);
            for (int k = 0; k < count; k++) {
                const double *v = q ? curves[k].balanced_accuracy : curves[k].loss;
                if (v)
                    draw_series(&c, &m, p, v, curves[k].n, series_col[k]);
            }
        }
        legend_item items[8];
        char labels[8][64];
        for (int k = 0; k < count; k++) {
            if (curves[k].label)
                snprintf(labels[k], sizeof labels[k], "%s", curves[k].label);
            else
                snprintf(labels[k], sizeof labels[k], "run %d", k + 1);
            items[k] = (legend_item){LEG_LINE, series_col[k], labels[k]};
        }
        const char *title = o.title ? o.title : "Training curves";
        draw_header(&c, title, items, count);
        st = crease__png_write_rgb(path, c.px, c.w, c.h, title);
    }
    free(c.px);
    free(m.a);
    return st;
}
