/* check_data.c -- data sets: construction, the Baarle label mask (built in
 * and from a file, plus broken PNGs made here), CSV files good and bad. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#include "check_common.h"

static char tmpdir[4096];

/* Writes len bytes to tmpdir/name; returns the path (static buffer). */
static const char *write_tmp(const char *name, const void *data, size_t len)
{
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    ck_write_file(path, data, len);
    return path;
}

static const char *write_tmp_str(const char *name, const char *text)
{
    return write_tmp(name, text, strlen(text));
}

/* A loader given a file that does not exist: CREASE_EIO, no data set, and
 * an error that names the file and the reason. */
static void check_missing_file(crease_status (*load)(const char *, crease_dataset **),
                               const char *name)
{
    crease_dataset *d = (crease_dataset *)&d;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    ck_assert_int_eq(load(path, &d), CREASE_EIO);
    ck_assert_ptr_null(d);
    ck_assert_error_has(name);
    ck_assert_error_has(strerror(ENOENT));
}

/* ------------------------------------------------------ crease_dataset_new */

START_TEST(test_new_copies)
{
    float x[6] = {0.5f, -0.5f, 1, 2, 3, 4};
    int lab[3] = {0, 2, -1};
    crease_dataset *d = NULL;
    ck_assert_int_eq(crease_dataset_new(3, 2, 3, x, lab, &d), CREASE_OK);
    x[0] = 99;
    lab[0] = 1;
    ck_assert_uint_eq(crease_dataset_size(d), 3);
    ck_assert_int_eq(crease_dataset_dim(d), 2);
    ck_assert_int_eq(crease_dataset_classes(d), 3);
    ck_assert(crease_dataset_x(d)[0] == 0.5f);
    ck_assert(crease_dataset_x(d)[5] == 4.0f);
    ck_assert_int_eq(crease_dataset_labels(d)[0], 0);
    ck_assert_int_eq(crease_dataset_labels(d)[2], -1);
    crease_dataset_free(d);
    crease_dataset_free(NULL);
    ck_assert_uint_eq(crease_dataset_size(NULL), 0);
}
END_TEST

START_TEST(test_new_rejects)
{
    float x[4] = {0, 0, 0, 0};
    int lab[2] = {0, 1};
    crease_dataset *d = (crease_dataset *)&d;
    ck_assert_int_eq(crease_dataset_new(0, 2, 2, x, lab, &d), CREASE_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(crease_dataset_new(2, 0, 2, x, lab, &d), CREASE_EINVAL);
    ck_assert_int_eq(crease_dataset_new(2, 2, 0, x, lab, &d), CREASE_EINVAL);
    ck_assert_int_eq(crease_dataset_new(2, 2, 2, NULL, lab, &d), CREASE_EINVAL);
    ck_assert_int_eq(crease_dataset_new(2, 2, 2, x, NULL, &d), CREASE_EINVAL);
    ck_assert_int_eq(crease_dataset_new(2, 2, 2, x, lab, NULL), CREASE_EINVAL);
    ck_assert_int_eq(crease_dataset_new(2, 2, 1, x, lab, &d), CREASE_EINVAL);
    ck_assert_error_has("label 1 of point 1");
    lab[1] = -2;
    ck_assert_int_eq(crease_dataset_new(2, 2, 2, x, lab, &d), CREASE_EINVAL);
    lab[1] = 1;
    x[3] = NAN;
    ck_assert_int_eq(crease_dataset_new(2, 2, 2, x, lab, &d), CREASE_EINVAL);
    ck_assert_error_has("not finite");
    ck_assert_ptr_null(d);
}
END_TEST

/* ---------------------------------------------------------------- Baarle */

#define BAARLE_W 960
#define BAARLE_BE 164667
#define BAARLE_NL 693952

static float px_x(int col, int w)
{
    return (float)(2.0 * (col + 0.5) / w - 1.0);
}

static float px_y(int row, int h)
{
    return (float)(1.0 - 2.0 * (row + 0.5) / h);
}

static void check_baarle(const crease_dataset *d)
{
    size_t n = crease_dataset_size(d);
    ck_assert_uint_eq(n, BAARLE_BE + BAARLE_NL);
    ck_assert_int_eq(crease_dataset_dim(d), 2);
    ck_assert_int_eq(crease_dataset_classes(d), 2);
    const float *x = crease_dataset_x(d);
    const int *l = crease_dataset_labels(d);
    /* plain checks in the loops: every ck_assert costs a message to the
     * Check parent process */
    size_t be = 0, nl = 0, bad_label = 0, outside = 0, order = 0;
    for (size_t i = 0; i < n; i++) {
        bad_label += l[i] != 0 && l[i] != 1;
        be += l[i] == 1;
        nl += l[i] == 0;
        outside += !(x[2 * i] > -1 && x[2 * i] < 1 && x[2 * i + 1] > -1 && x[2 * i + 1] < 1);
        if (i > 0) { /* row-major: y falls by rows, x rises within one */
            float py = x[2 * i - 1], y = x[2 * i + 1];
            order += !(y < py || (y == py && x[2 * i] > x[2 * i - 2]));
        }
    }
    ck_assert_uint_eq(bad_label, 0);
    ck_assert_uint_eq(outside, 0);
    ck_assert_uint_eq(order, 0);
    ck_assert_uint_eq(be, BAARLE_BE);
    ck_assert_uint_eq(nl, BAARLE_NL);
    /* known pixels (from an independent decode of the mask): the first
     * labelled one is Dutch at (row 3, col 3), the first Belgian one is
     * point 58795 at (row 65, col 634), the last one is (956, 956). */
    ck_assert(x[0] == px_x(3, BAARLE_W) && x[1] == px_y(3, BAARLE_W));
    ck_assert_float_eq_tol(x[0], -0.99270833f, 1e-7f);
    ck_assert_float_eq_tol(x[1], 0.99270833f, 1e-7f);
    ck_assert_int_eq(l[0], 0);
    size_t first_be = 0;
    while (first_be < n && l[first_be] != 1)
        first_be++;
    ck_assert_uint_eq(first_be, 58795);
    ck_assert_int_eq(l[58795], 1);
    ck_assert(x[2 * 58795] == px_x(634, BAARLE_W));
    ck_assert(x[2 * 58795 + 1] == px_y(65, BAARLE_W));
    ck_assert(x[2 * (n - 1)] == px_x(956, BAARLE_W));
    ck_assert(x[2 * (n - 1) + 1] == px_y(956, BAARLE_W));
    ck_assert_int_eq(l[n - 1], 0);
}

START_TEST(test_baarle_builtin)
{
    crease_dataset *d = NULL;
    ck_assert_int_eq(crease_dataset_load_baarle(NULL, &d), CREASE_OK);
    check_baarle(d);
    crease_dataset_free(d);
}
END_TEST

START_TEST(test_baarle_file)
{
    const char *src = getenv("CREASE_SRCDIR");
    if (!src) {
        printf("SKIP test_baarle_file: CREASE_SRCDIR not set\n");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/data/baarle-labels.png", src);
    crease_dataset *a = NULL, *b = NULL;
    ck_assert_int_eq(crease_dataset_load_baarle(path, &a), CREASE_OK);
    ck_assert_int_eq(crease_dataset_load_baarle(NULL, &b), CREASE_OK);
    check_baarle(a);
    size_t n = crease_dataset_size(a);
    ck_assert_uint_eq(n, crease_dataset_size(b));
    ck_assert(memcmp(crease_dataset_x(a), crease_dataset_x(b), 2 * n * sizeof(float)) == 0);
    ck_assert(memcmp(crease_dataset_labels(a), crease_dataset_labels(b), n * sizeof(int)) == 0);
    crease_dataset_free(a);
    crease_dataset_free(b);
}
END_TEST

/* A minimal PNG encoder (stored deflate blocks), so the tests can make
 * every colour type and every kind of damage without libpng. */
static uint32_t crc32_of(const unsigned char *p, size_t n, uint32_t crc)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_be32(bytes *b, uint32_t v)
{
    unsigned char t[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, t, 4);
}

static void put_chunk(bytes *b, const char *type, const unsigned char *data, size_t n)
{
    put_be32(b, (uint32_t)n);
    size_t at = b->len;
    put(b, type, 4);
    put(b, data, n);
    put_be32(b, crc32_of(b->p + at, n + 4, 0));
}

/* PNG of w x h pixels; raw holds h rows of rowbytes (filter 0 added). */
static bytes make_png(uint32_t w, uint32_t h, int depth, int ctype, const unsigned char *raw,
                      size_t rowbytes, const unsigned char *plte, size_t plte_len)
{
    bytes z = {0}, png = {0};
    size_t rawlen = h * (rowbytes + 1);
    unsigned char *filt = malloc(rawlen ? rawlen : 1);
    ck_assert_ptr_nonnull(filt);
    for (uint32_t r = 0; r < h; r++) {
        filt[r * (rowbytes + 1)] = 0;
        memcpy(filt + r * (rowbytes + 1) + 1, raw + r * rowbytes, rowbytes);
    }
    unsigned char zh[2] = {0x78, 0x01};
    put(&z, zh, 2);
    size_t pos = 0;
    do {
        size_t n = rawlen - pos > 65535 ? 65535 : rawlen - pos;
        unsigned char bh[5] = {(unsigned char)(pos + n == rawlen), (unsigned char)n,
                               (unsigned char)(n >> 8), (unsigned char)~n,
                               (unsigned char)(~n >> 8)};
        put(&z, bh, 5);
        put(&z, filt + pos, n);
        pos += n;
    } while (pos < rawlen);
    uint32_t a = 1, bsum = 0;
    for (size_t i = 0; i < rawlen; i++) {
        a = (a + filt[i]) % 65521;
        bsum = (bsum + a) % 65521;
    }
    put_be32(&z, bsum << 16 | a);
    free(filt);

    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(&png, sig, 8);
    unsigned char ihdr[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16),
                              (unsigned char)(w >> 8), (unsigned char)w,
                              (unsigned char)(h >> 24), (unsigned char)(h >> 16),
                              (unsigned char)(h >> 8), (unsigned char)h,
                              (unsigned char)depth, (unsigned char)ctype, 0, 0, 0};
    put_chunk(&png, "IHDR", ihdr, 13);
    if (plte)
        put_chunk(&png, "PLTE", plte, plte_len);
    put_chunk(&png, "IDAT", z.p, z.len);
    put_chunk(&png, "IEND", NULL, 0);
    free(z.p);
    return png;
}

/* 3 x 2 mask: row 0 = 255 127 0, row 1 = 0 0 255 */
static const unsigned char small_grey[6] = {255, 127, 0, 0, 0, 255};

static void check_small(const crease_dataset *d)
{
    ck_assert_uint_eq(crease_dataset_size(d), 5);
    const float *x = crease_dataset_x(d);
    const int *l = crease_dataset_labels(d);
    static const int lab[5] = {1, 0, 0, 0, 1};
    static const int rc[5][2] = {{0, 0}, {0, 2}, {1, 0}, {1, 1}, {1, 2}};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(l[i], lab[i]);
        ck_assert(x[2 * i] == px_x(rc[i][1], 3));
        ck_assert(x[2 * i + 1] == px_y(rc[i][0], 2));
    }
}

static void load_png_bytes(const bytes *png, const char *name, int expect)
{
    const char *path = write_tmp(name, png->p, png->len);
    crease_dataset *d = (crease_dataset *)&d;
    int rc = crease_dataset_load_baarle(path, &d);
    ck_assert_msg(rc == expect, "%s: status %d, expected %d (%s)", name, rc, expect,
                  crease_last_error());
    if (expect == CREASE_OK) {
        check_small(d);
        crease_dataset_free(d);
    } else {
        ck_assert_ptr_null(d);
        ck_assert_error_has(name);
    }
    unlink(path);
}

START_TEST(test_png_colour_types)
{
    /* 8-bit grey */
    bytes p = make_png(3, 2, 8, 0, small_grey, 3, NULL, 0);
    load_png_bytes(&p, "grey8.png", CREASE_OK);
    free(p.p);
    /* 16-bit grey: the high byte counts */
    unsigned char g16[12];
    for (int i = 0; i < 6; i++) {
        g16[2 * i] = small_grey[i];
        g16[2 * i + 1] = small_grey[i];
    }
    p = make_png(3, 2, 16, 0, g16, 6, NULL, 0);
    load_png_bytes(&p, "grey16.png", CREASE_OK);
    free(p.p);
    /* grey + alpha: alpha dropped */
    unsigned char ga[12];
    for (int i = 0; i < 6; i++) {
        ga[2 * i] = small_grey[i];
        ga[2 * i + 1] = (unsigned char)(i * 40);
    }
    p = make_png(3, 2, 8, 4, ga, 6, NULL, 0);
    load_png_bytes(&p, "greyalpha.png", CREASE_OK);
    free(p.p);
    /* RGB whose pixels are all grey */
    unsigned char rgb[18];
    for (int i = 0; i < 18; i++)
        rgb[i] = small_grey[i / 3];
    p = make_png(3, 2, 8, 2, rgb, 9, NULL, 0);
    load_png_bytes(&p, "rgbgrey.png", CREASE_OK);
    free(p.p);
    /* palette of grey entries */
    unsigned char plte[9] = {0, 0, 0, 127, 127, 127, 255, 255, 255};
    unsigned char idx[6] = {2, 1, 0, 0, 0, 2};
    p = make_png(3, 2, 8, 3, idx, 3, plte, 9);
    load_png_bytes(&p, "palette.png", CREASE_OK);
    free(p.p);
    /* 1-bit grey: 1 becomes 255 */
    unsigned char bits[2] = {0x80, 0x20}; /* 1 0 0 / 0 0 1 */
    p = make_png(3, 2, 1, 0, bits, 1, NULL, 0);
    {
        const char *path = write_tmp("grey1.png", p.p, p.len);
        crease_dataset *d = NULL;
        ck_assert_int_eq(crease_dataset_load_baarle(path, &d), CREASE_OK);
        ck_assert_uint_eq(crease_dataset_size(d), 6);
        ck_assert_int_eq(crease_dataset_labels(d)[0], 1);
        ck_assert_int_eq(crease_dataset_labels(d)[1], 0);
        ck_assert_int_eq(crease_dataset_labels(d)[5], 1);
        crease_dataset_free(d);
        unlink(path);
    }
    free(p.p);
    /* a real colour pixel is refused: a map is not a label mask */
    rgb[3] = 10;
    p = make_png(3, 2, 8, 2, rgb, 9, NULL, 0);
    load_png_bytes(&p, "colour.png", CREASE_EFORMAT);
    free(p.p);
    /* only unlabelled pixels */
    unsigned char grey127[6] = {127, 127, 127, 127, 127, 127};
    p = make_png(3, 2, 8, 0, grey127, 3, NULL, 0);
    load_png_bytes(&p, "nolabels.png", CREASE_EFORMAT);
    ck_assert_error_has("no labelled pixels");
    free(p.p);
}
END_TEST

START_TEST(test_png_broken)
{
    crease_dataset *d = (crease_dataset *)&d;
    check_missing_file(crease_dataset_load_baarle, "does-not-exist.png");

    /* not a PNG at all, and an empty file */
    const char *p = write_tmp_str("text.png", "x,y,label\n0,0,1\n");
    ck_assert_int_eq(crease_dataset_load_baarle(p, &d), CREASE_EFORMAT);
    ck_assert_error_has("text.png");
    ck_assert_error_has("not a PNG");
    p = write_tmp("empty.png", "", 0);
    ck_assert_int_eq(crease_dataset_load_baarle(p, &d), CREASE_EFORMAT);
    ck_assert_ptr_null(d);

    /* the real mask, truncated at many lengths and with damaged bytes */
    const char *src = getenv("CREASE_SRCDIR");
    bytes real = {0};
    if (src) {
        char rp[4096];
        snprintf(rp, sizeof rp, "%s/data/baarle-labels.png", src);
        real.p = ck_slurp(rp, &real.len);
    } else {
        real = make_png(3, 2, 8, 0, small_grey, 3, NULL, 0);
    }
    static const double cut[] = {0.001, 0.01, 0.3, 0.5, 0.9, 0.999};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        size_t n = (size_t)(real.len * cut[i]);
        if (n < 9)
            n = 9;
        p = write_tmp("truncated.png", real.p, n);
        int rc = crease_dataset_load_baarle(p, &d);
        ck_assert_msg(rc == CREASE_EFORMAT, "cut at %zu: %d", n, rc);
        ck_assert_ptr_null(d);
        ck_assert_error_has("truncated.png");
    }
    /* one flipped byte in IHDR data breaks its CRC */
    real.p[20] ^= 0x40;
    p = write_tmp("badcrc.png", real.p, real.len);
    ck_assert_int_eq(crease_dataset_load_baarle(p, &d), CREASE_EFORMAT);
    ck_assert_error_has("badcrc.png");
    real.p[20] ^= 0x40;
    free(real.p);

    /* absurd dimensions are refused before any allocation */
    bytes big = make_png(3, 2, 8, 0, small_grey, 3, NULL, 0);
    unsigned char *ihdr = big.p + 16;
    ihdr[0] = 0x00; ihdr[1] = 0x10; ihdr[2] = 0x00; ihdr[3] = 0x00; /* w = 2^20 */
    uint32_t crc = crc32_of(big.p + 12, 17, 0);
    big.p[29] = (unsigned char)(crc >> 24);
    big.p[30] = (unsigned char)(crc >> 16);
    big.p[31] = (unsigned char)(crc >> 8);
    big.p[32] = (unsigned char)crc;
    p = write_tmp("huge.png", big.p, big.len);
    ck_assert_int_eq(crease_dataset_load_baarle(p, &d), CREASE_EFORMAT);
    ck_assert_error_has("huge.png");
    free(big.p);
    ck_assert_int_eq(crease_dataset_load_baarle(NULL, NULL), CREASE_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------- CSV */

START_TEST(test_csv_good)
{
    const char *text = "\xEF\xBB\xBF# made by a test\r\n"
                       "\r\n"
                       "  x , y , label \r\n"
                       "0.5,-0.25,1\r\n"
                       "# comment\n"
                       "   \t\n"
                       "  -1e-3 ,\t2.5e1 , 0\n"
                       "1,2,3.0\n"
                       "+0.125,.5,2"; /* no final newline */
    const char *p = write_tmp_str("good.csv", text);
    crease_dataset *d = NULL;
    ck_assert_int_eq(crease_dataset_load_csv(p, &d), CREASE_OK);
    ck_assert_uint_eq(crease_dataset_size(d), 4);
    ck_assert_int_eq(crease_dataset_dim(d), 2);
    ck_assert_int_eq(crease_dataset_classes(d), 4);
    const float *x = crease_dataset_x(d);
    const int *l = crease_dataset_labels(d);
    static const float ex[8] = {0.5f, -0.25f, -1e-3f, 25.0f, 1.0f, 2.0f, 0.125f, 0.5f};
    static const int el[4] = {1, 0, 3, 2};
    for (int i = 0; i < 8; i++)
        ck_assert_msg(x[i] == ex[i], "x[%d] = %g", i, x[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(l[i], el[i]);
    crease_dataset_free(d);

    /* no header; a big label */
    p = write_tmp_str("nohead.csv", "0,0,0\n1,1,1048575\n");
    ck_assert_int_eq(crease_dataset_load_csv(p, &d), CREASE_OK);
    ck_assert_uint_eq(crease_dataset_size(d), 2);
    ck_assert_int_eq(crease_dataset_classes(d), 1048576);
    crease_dataset_free(d);
}
END_TEST

START_TEST(test_csv_locale)
{
    /* the caller's locale must not change how numbers are read */
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !got; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    if (!got) {
        printf("SKIP test_csv_locale: no decimal-comma locale installed\n");
        return;
    }
    const char *p = write_tmp_str("locale.csv", "0.75,-1.5,1\n");
    crease_dataset *d = NULL;
    ck_assert_int_eq(crease_dataset_load_csv(p, &d), CREASE_OK);
    ck_assert(crease_dataset_x(d)[0] == 0.75f);
    ck_assert(crease_dataset_x(d)[1] == -1.5f);
    crease_dataset_free(d);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

struct bad_csv {
    const char *text;
    const char *where; /* "bad.csv:N:" */
    const char *what;
};

static const struct bad_csv bad_csvs[] = {
    {"x,y,label\n0.1,0.2,1\n0.3,0.4\n", ":3:",
     "expected 3 comma-separated fields (x,y,label), found 2"},
    {"0.1,0.2,1,7\n", ":1:", "found 4"},
    {"# c\n\n0.1\n", ":3:", "found 1"},
    {"0.1,0.2,1\n0.1,abc,1\n", ":2:", "y: expected a number, found \"abc\""},
    {"0.1,0.2,1\n,0.2,1\n", ":2:", "x: expected a number"},
    {"0.1,0.2,1\r\n0.1,0.2 5,1\r\n", ":2:", "y: expected a number"},
    {"x,y,label\n0,0,0\nx,y,label\n", ":3:", "x: expected a number"},
    {"nan,0.2,1\n", ":1:", "non-finite"},
    {"0,-inf,1\n", ":1:", "non-finite"},
    {"0,1e999,1\n", ":1:", "out of range"},
    {"0,1e39,1\n", ":1:", "out of range"},
    {"0,0,-1\n", ":1:", "label: expected a non-negative integer"},
    {"0,0,1.5\n", ":1:", "label: expected a non-negative integer"},
    {"0,0,1048576\n", ":1:", "label: expected a non-negative integer below 1048576"},
    {"0,0,one\n", ":1:", "label: expected a number"},
    {"0,0,nan\n", ":1:", "label: non-finite"},
    {"0,0,\n", ":1:", "label: expected a number"},
    {"0,0,1\n0,0,1\n0,0,1\n0,0,1\n0,0,1\n0,0,1\n0,0,1\n0,0,1\n0,0,1\n0,0,1\n"
     "0,0,1\n0,0,1\n0,0,1\n0,0,1\n0,0,1\n0,0,1\n1,2\n",
     ":17:", "expected 3 comma-separated fields (x,y,label), found 2"},
    {"", "", "no data rows"},
    {"x,y,label\n# only a header\n\n", "", "no data rows"},
};

START_TEST(test_csv_bad)
{
    const struct bad_csv *b = &bad_csvs[_i];
    const char *p = write_tmp_str("bad.csv", b->text);
    crease_dataset *d = (crease_dataset *)&d;
    int rc = crease_dataset_load_csv(p, &d);
    ck_assert_msg(rc == CREASE_EFORMAT, "case %d: status %d (%s)", _i, rc, crease_last_error());
    ck_assert_ptr_null(d);
    char where[64];
    snprintf(where, sizeof where, "bad.csv%s", b->where);
    ck_assert_error_has(where);
    ck_assert_error_has(b->what);
    unlink(p);
}
END_TEST

START_TEST(test_csv_io)
{
    crease_dataset *d = (crease_dataset *)&d;
    check_missing_file(crease_dataset_load_csv, "missing.csv");
    /* NUL bytes: a binary file, not text */
    const char *p = write_tmp("nul.csv", "0,0,1\n0,\0,1\n", 12);
    ck_assert_int_eq(crease_dataset_load_csv(p, &d), CREASE_EFORMAT);
    ck_assert_error_has("nul.csv:2:");
    ck_assert_int_eq(crease_dataset_load_csv(NULL, &d), CREASE_EINVAL);
    ck_assert_int_eq(crease_dataset_load_csv(p, NULL), CREASE_EINVAL);
}
END_TEST

/* Writes the Baarle set as CSV and reads it back: the same points. */
START_TEST(test_csv_baarle_roundtrip)
{
    crease_dataset *a = NULL, *b = NULL;
    ck_assert_int_eq(crease_dataset_load_baarle(NULL, &a), CREASE_OK);
    char path[8192];
    snprintf(path, sizeof path, "%s/baarle.csv", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "x,y,label\n");
    size_t n = crease_dataset_size(a);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.9g,%.9g,%d\n", crease_dataset_x(a)[2 * i], crease_dataset_x(a)[2 * i + 1],
                crease_dataset_labels(a)[i]);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(crease_dataset_load_csv(path, &b), CREASE_OK);
    ck_assert_uint_eq(crease_dataset_size(b), n);
    ck_assert_int_eq(crease_dataset_classes(b), 2);
    ck_assert(memcmp(crease_dataset_x(a), crease_dataset_x(b), 2 * n * sizeof(float)) == 0);
    ck_assert(memcmp(crease_dataset_labels(a), crease_dataset_labels(b), n * sizeof(int)) == 0);
    crease_dataset_free(a);
    crease_dataset_free(b);
    unlink(path);
}
END_TEST

int main(void)
{
    if (!ck_make_tmpdir(tmpdir, sizeof tmpdir, "crease-check-data")) {
        perror("mkdtemp");
        return 99;
    }
    Suite *s = suite_create("data");
    ck_add_tcase(s, "dataset", NULL, NULL, 300, CK_TESTS(test_new_copies, test_new_rejects));
    ck_add_tcase(s, "baarle", NULL, NULL, 300,
                 CK_TESTS(test_baarle_builtin, test_baarle_file, test_png_colour_types,
                          test_png_broken));
    TCase *tc = ck_add_tcase(s, "csv", NULL, NULL, 300,
                             CK_TESTS(test_csv_good, test_csv_locale, test_csv_io,
                                      test_csv_baarle_roundtrip));
    tcase_add_loop_test(tc, test_csv_bad, 0, (int)(sizeof bad_csvs / sizeof bad_csvs[0]));
    int status = ck_run(s);
    ck_remove_tree(tmpdir);
    return status;
}
