/* data.c -- host-side labelled data sets: construction, the built-in Baarle
 * border task (a grey label-mask PNG, decoded by png_io.c) and "x,y,label"
 * CSV files. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* newlocale/uselocale */
#endif
#include "config.h"

#include "internal.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_LABEL ((1 << 20) - 1)

/* ------------------------------------------------------------- objects */

/* Allocates a data set with uninitialised x and labels. */
static int dataset_alloc(size_t n, int dim, int classes, crease_dataset **out)
{
    *out = NULL;
    if (n > SIZE_MAX / sizeof(float) / (size_t)dim || n > SIZE_MAX / sizeof(int))
        return crease__error(CREASE_ENOMEM, "data set of %zu x %d values is too large", n, dim);
    crease_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return crease__error(CREASE_ENOMEM, "out of memory for a data set");
    d->n = n;
    d->dim = dim;
    d->classes = classes;
    d->x = malloc(n * (size_t)dim * sizeof *d->x);
    d->labels = malloc(n * sizeof *d->labels);
    if (!d->x || !d->labels) {
        crease_dataset_free(d);
        return crease__error(CREASE_ENOMEM, "out of memory for a data set of %zu points", n);
    }
    *out = d;
    return CREASE_OK;
}

crease_status crease_dataset_new(size_t n, int dim, int classes, const float *x,
                                 const int *labels, crease_dataset **out)
{
    if (!out)
        return crease__error(CREASE_EINVAL, "crease_dataset_new: out is NULL");
    *out = NULL;
    if (n == 0)
        return crease__error(CREASE_EINVAL, "crease_dataset_new: empty data set (n = 0)");
    if (dim < 1)
        return crease__error(CREASE_EINVAL, "crease_dataset_new: dim %d must be >= 1", dim);
    if (classes < 1)
        return crease__error(CREASE_EINVAL, "crease_dataset_new: classes %d must be >= 1",
                             classes);
    if (!x || !labels)
        return crease__error(CREASE_EINVAL, "crease_dataset_new: x or labels is NULL");
    for (size_t i = 0; i < n; i++)
        if (labels[i] < -1 || labels[i] >= classes)
            return crease__error(CREASE_EINVAL,
                                 "crease_dataset_new: label %d of point %zu is outside "
                                 "[-1, %d)", labels[i], i, classes);
    crease_dataset *d;
    int rc = dataset_alloc(n, dim, classes, &d);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n * (size_t)dim; i++)
        if (!isfinite(x[i])) {
            crease_dataset_free(d);
            return crease__error(CREASE_EINVAL,
                                 "crease_dataset_new: coordinate %d of point %zu is not finite",
                                 (int)(i % (size_t)dim), i / (size_t)dim);
        }
    memcpy(d->x, x, n * (size_t)dim * sizeof *x);
    memcpy(d->labels, labels, n * sizeof *labels);
    *out = d;
    return CREASE_OK;
}

void crease_dataset_free(crease_dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->labels);
    free(d);
}

size_t crease_dataset_size(const crease_dataset *d)
{
    return d ? d->n : 0;
}

int crease_dataset_dim(const crease_dataset *d)
{
    return d ? d->dim : 0;
}

int crease_dataset_classes(const crease_dataset *d)
{
    return d ? d->classes : 0;
}

const float *crease_dataset_x(const crease_dataset *d)
{
    return d ? d->x : NULL;
}

const int *crease_dataset_labels(const crease_dataset *d)
{
    return d ? d->labels : NULL;
}

/* -------------------------------------------------------------- Baarle */

crease_status crease_dataset_load_baarle(const char *path, crease_dataset **out)
{
    if (!out)
        return crease__error(CREASE_EINVAL, "crease_dataset_load_baarle: out is NULL");
    *out = NULL;
    unsigned char *img = NULL;
    const char *name = path ? path : "built-in baarle-labels.png";
    uint32_t w = 0, h = 0;
    int rc = path ? crease__png_read(path, CREASE__PNG_GREY, &img, &w, &h)
                  : crease__png_decode(name, crease__baarle_png, crease__baarle_png_len,
                                       CREASE__PNG_GREY, &img, &w, &h);
    if (rc < 0)
        return rc;

    size_t n = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        n += img[i] == 0 || img[i] == 255;
    if (n == 0) {
        free(img);
        return crease__error(CREASE_EFORMAT,
                             "%s: no labelled pixels (255 = Belgium, 0 = Netherlands)", name);
    }
    crease_dataset *d;
    if ((rc = dataset_alloc(n, 2, 2, &d)) < 0) {
        free(img);
        return rc;
    }
    /* pixel centres into [-1, 1]^2, y pointing up; row-major order */
    size_t k = 0;
    for (uint32_t r = 0; r < h; r++)
        for (uint32_t c = 0; c < w; c++) {
            unsigned v = img[(size_t)r * w + c];
            if (v != 0 && v != 255)
                continue;
            d->x[2 * k] = (float)(2.0 * (c + 0.5) / w - 1.0);
            d->x[2 * k + 1] = (float)(1.0 - 2.0 * (r + 0.5) / h);
            d->labels[k] = v == 255;
            k++;
        }
    free(img);
    *out = d;
    return CREASE_OK;
}

/* ----------------------------------------------------------------- CSV */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims blanks in place; returns the start. */
static char *trim(char *s)
{
    while (is_blank(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        s[--n] = '\0';
    return s;
}

enum { NUM_OK = 0, NUM_BAD = -1, NUM_RANGE = -2 };

/* A whole field as a number (strtod syntax, C locale). */
static int parse_number(const char *s, double *v)
{
    char *end;
    if (*s == '\0')
        return NUM_BAD;
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || *end != '\0')
        return NUM_BAD;
    if (errno == ERANGE && fabs(*v) == HUGE_VAL)
        return NUM_RANGE;
    return NUM_OK;
}

/* A coordinate field into *out, or an error naming file:line. */
static int parse_coord(const char *path, size_t line, const char *what, const char *s,
                       float *out)
{
    double v;
    int r = parse_number(s, &v);
    if (r == NUM_BAD)
        return crease__error(CREASE_EFORMAT, "%s:%zu: %s: expected a number, found \"%.40s\"",
                             path, line, what, s);
    if (r == NUM_RANGE || (isfinite(v) && fabs(v) > FLT_MAX))
        return crease__error(CREASE_EFORMAT, "%s:%zu: %s: value \"%.40s\" is out of range",
                             path, line, what, s);
    if (!isfinite(v))
        return crease__error(CREASE_EFORMAT, "%s:%zu: %s: non-finite value \"%.40s\"", path,
                             line, what, s);
    *out = (float)v;
    return 0;
}

static int parse_label(const char *path, size_t line, const char *s, int *out)
{
    double v;
    int r = parse_number(s, &v);
    if (r == NUM_BAD)
        return crease__error(CREASE_EFORMAT, "%s:%zu: label: expected a number, found \"%.40s\"",
                             path, line, s);
    if (r == NUM_RANGE || !isfinite(v))
        return crease__error(CREASE_EFORMAT, "%s:%zu: label: non-finite value \"%.40s\"", path,
                             line, s);
    if (v < 0 || v != floor(v) || v > CSV_MAX_LABEL)
        return crease__error(CREASE_EFORMAT,
                             "%s:%zu: label: expected a non-negative integer below %d, "
                             "found \"%.40s\"",
                             path, line, CSV_MAX_LABEL + 1, s);
    *out = (int)v;
    return 0;
}

struct csv_rows {
    float *x;
    int *labels;
    size_t n, cap;
};

static int rows_push(struct csv_rows *r, float x, float y, int label)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        if (cap > SIZE_MAX / (2 * sizeof(float)))
            return crease__error(CREASE_ENOMEM, "CSV data set too large");
        float *nx = realloc(r->x, cap * 2 * sizeof *nx);
        if (!nx)
            return crease__error(CREASE_ENOMEM, "out of memory reading CSV");
        r->x = nx;
        int *nl = realloc(r->labels, cap * sizeof *nl);
        if (!nl)
            return crease__error(CREASE_ENOMEM, "out of memory reading CSV");
        r->labels = nl;
        r->cap = cap;
    }
    r->x[2 * r->n] = x;
    r->x[2 * r->n + 1] = y;
    r->labels[r->n] = label;
    r->n++;
    return 0;
}

/* Parses the file's text (modified in place; text[len] is a NUL). */
static int parse_csv(const char *path, char *text, size_t len, struct csv_rows *rows,
                     int *max_label)
{
    size_t pos = 0, lineno = 0;
    int first = 1;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* UTF-8 byte order mark, as spreadsheets write it */
    while (pos < len) {
        char *line = text + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        line[ll] = '\0';
        if (ll > 0 && line[ll - 1] == '\r')
            line[--ll] = '\0';
        if (strlen(line) != ll)
            return crease__error(CREASE_EFORMAT, "%s:%zu: NUL byte in line (not a text file?)",
                                 path, lineno);
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;

        char *f[3];
        int nf = 0;
        for (char *p = s;;) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            if (nf < 3)
                f[nf] = trim(p);
            nf++;
            if (!comma)
                break;
            p = comma + 1;
        }
        if (first) {
            /* a first line without any number is a header */
            first = 0;
            int numeric = 0;
            double v;
            for (int i = 0; i < nf && i < 3; i++)
                numeric |= parse_number(f[i], &v) != NUM_BAD;
            if (!numeric)
                continue;
        }
        if (nf != 3)
            return crease__error(CREASE_EFORMAT,
                                 "%s:%zu: expected 3 comma-separated fields (x,y,label), found %d",
                                 path, lineno, nf);
        float x = 0, y = 0;
        int label = 0, rc;
        if ((rc = parse_coord(path, lineno, "x", f[0], &x)) < 0 ||
            (rc = parse_coord(path, lineno, "y", f[1], &y)) < 0 ||
            (rc = parse_label(path, lineno, f[2], &label)) < 0)
            return rc;
        if ((rc = rows_push(rows, x, y, label)) < 0)
            return rc;
        if (label > *max_label)
            *max_label = label;
    }
    if (rows->n == 0)
        return crease__error(CREASE_EFORMAT, "%s: no data rows (expected x,y,label lines)", path);
    return 0;
}

crease_status crease_dataset_load_csv(const char *path, crease_dataset **out)
{
    if (!out)
        return crease__error(CREASE_EINVAL, "crease_dataset_load_csv: out is NULL");
    *out = NULL;
    if (!path)
        return crease__error(CREASE_EINVAL, "crease_dataset_load_csv: path is NULL");
    unsigned char *buf;
    size_t len;
    int rc = crease__read_file(path, &buf, &len);
    if (rc < 0)
        return rc;

    /* numbers are always written with '.', whatever the caller's locale */
    locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t old = cloc ? uselocale(cloc) : (locale_t)0;
    struct csv_rows rows = {0};
    int max_label = -1;
    rc = parse_csv(path, (char *)buf, len, &rows, &max_label);
    if (cloc) {
        uselocale(old);
        freelocale(cloc);
    }
    free(buf);
    if (rc == 0) {
        crease_dataset *d = calloc(1, sizeof *d);
        if (!d) {
            rc = crease__error(CREASE_ENOMEM, "out of memory reading %s", path);
        } else {
            d->n = rows.n;
            d->dim = 2;
            d->classes = max_label + 1;
            d->x = rows.x;
            d->labels = rows.labels;
            *out = d;
            return CREASE_OK;
        }
    }
    free(rows.x);
    free(rows.labels);
    return rc;
}
