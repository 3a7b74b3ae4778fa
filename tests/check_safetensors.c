/* check_safetensors.c -- the safetensors reader and writer: bit-exact round
 * trips, metadata, the PyTorch reference models, dtype conversion, and a
 * long list of hostile files that must each give a clear error. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "safetensors.h"

#include "check_common.h"

static char tmpdir[4096];

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Builds "8-byte length + header + data" in an exactly sized buffer (so
 * AddressSanitizer sees any read past its end). */
static unsigned char *build(const char *header, const void *data, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)((uint64_t)h >> (8 * k));
    memcpy(b + 8, header, h);
    if (data_len)
        memcpy(b + 8 + h, data, data_len);
    return b;
}

/* Parses a copy of buf[0..len) in an exactly sized allocation. */
static int parse_exact(const unsigned char *buf, size_t len, crease_st_file **f)
{
    unsigned char *c = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(c);
    if (len)
        memcpy(c, buf, len);
    int rc = crease__st_parse("hostile.safetensors", c, len, f);
    free(c);
    return rc;
}

/* ------------------------------------------------------------ round trip */

START_TEST(test_roundtrip_bits)
{
    static const uint32_t special[] = {
        0x00000000, 0x80000000,             /* +0, -0 */
        0x00000001, 0x807fffff, 0x00400000, /* denormals */
        0x7f800000, 0xff800000,             /* +-inf */
        0x7fc00000, 0x7fc12345, 0xffc00001, /* quiet NaNs with payloads */
        0x7f800001, 0x7fbfffff,             /* signalling NaN patterns */
        0x7f7fffff, 0x00800000, 0x3f800000, 0xbf800001};
    enum { NS = sizeof special / sizeof special[0] };
    float a[NS], b[24], scalar = 42.5f, big[1000];
    for (int i = 0; i < NS; i++)
        a[i] = from_bits(special[i]);
    for (int i = 0; i < 24; i++)
        b[i] = (float)i * 0.1f - 1.0f;
    for (int i = 0; i < 1000; i++)
        big[i] = from_bits(0x9e3779b9u * (uint32_t)(i + 1)); /* any bits */

    crease_st_tensor t[6];
    memset(t, 0, sizeof t);
    t[0].name = "model.0.weight";
    t[0].ndim = 2, t[0].shape[0] = 4, t[0].shape[1] = 4, t[0].numel = 16, t[0].data = a;
    t[1].name = "b \"quoted\" \\ back\tslash\n\x01 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    t[1].ndim = 8;
    for (int d = 0; d < 8; d++)
        t[1].shape[d] = 1;
    t[1].shape[2] = 2, t[1].shape[5] = 3, t[1].shape[7] = 4, t[1].numel = 24, t[1].data = b;
    t[2].name = "scalar", t[2].ndim = 0, t[2].numel = 1, t[2].data = &scalar;
    t[3].name = "empty", t[3].ndim = 2, t[3].shape[0] = 0, t[3].shape[1] = 7, t[3].numel = 0;
    t[4].name = "", t[4].ndim = 1, t[4].shape[0] = 1000, t[4].numel = 1000, t[4].data = big;
    t[5].name = "empty2", t[5].ndim = 1, t[5].shape[0] = 0, t[5].numel = 0, t[5].data = b;

    unsigned char *s1, *s2;
    size_t l1, l2;
    ck_assert_int_eq(crease__st_serialize(t, 6, NULL, 0, &s1, &l1), CREASE_OK);
    ck_assert_int_eq(crease__st_serialize(t, 6, NULL, 0, &s2, &l2), CREASE_OK);
    ck_assert_uint_eq(l1, l2);
    ck_assert(memcmp(s1, s2, l1) == 0); /* deterministic */
    uint64_t h = 0;
    for (int k = 0; k < 8; k++)
        h |= (uint64_t)s1[k] << (8 * k);
    ck_assert_uint_eq(h % 8, 0); /* data section aligned */
    ck_assert_uint_eq(l1, 8 + h + 4 * (16 + 24 + 1 + 1000));
    ck_assert_int_eq(s1[8], '{');
    free(s2);

    crease_st_file *f = NULL;
    ck_assert_int_eq(parse_exact(s1, l1, &f), CREASE_OK);
    free(s1);
    ck_assert_int_eq(crease__st_count(f), 6);
    for (int i = 0; i < 6; i++) {
        const crease_st_tensor *r = crease__st_get(f, i);
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(r->name, t[i].name); /* header order kept */
        ck_assert_str_eq(r->dtype, "F32");
        ck_assert_int_eq(r->ndim, t[i].ndim);
        for (int d = 0; d < r->ndim; d++)
            ck_assert_int_eq(r->shape[d], t[i].shape[d]);
        ck_assert_uint_eq(r->numel, t[i].numel);
        ck_assert_ptr_nonnull(r->data);
        for (size_t e = 0; e < r->numel; e++)
            if (bits_of(r->data[e]) != bits_of(t[i].data[e]))
                ck_abort_msg("tensor %d element %zu: %08x != %08x", i, e,
                             (unsigned)bits_of(r->data[e]), (unsigned)bits_of(t[i].data[e]));
    }
    ck_assert_ptr_eq(crease__st_find(f, "scalar"), crease__st_get(f, 2));
    ck_assert_ptr_eq(crease__st_find(f, ""), crease__st_get(f, 4));
    ck_assert_ptr_null(crease__st_find(f, "nope"));
    ck_assert_ptr_null(crease__st_get(f, 6));
    ck_assert_ptr_null(crease__st_get(f, -1));
    ck_assert_int_eq(crease__st_meta_count(f), 0);
    ck_assert_ptr_null(crease__st_meta(f, "format"));
    crease__st_free(f);
    crease__st_free(NULL);
}
END_TEST

START_TEST(test_roundtrip_file_and_meta)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    float w[6] = {1, 2, 3, 4, 5, 6}, bias[3] = {-0.0f, 0.5f, 1e-40f};
    crease_st_tensor t[2];
    memset(t, 0, sizeof t);
    t[0].name = "model.0.weight", t[0].ndim = 2, t[0].shape[0] = 3, t[0].shape[1] = 2;
    t[0].numel = 6, t[0].data = w;
    t[1].name = "model.0.bias", t[1].ndim = 1, t[1].shape[0] = 3, t[1].numel = 3;
    t[1].data = bias;
    const char *meta[] = {"format", "pt", "crease.spec", "2-3",
                          "quote\"key", "line\nbreak \xe2\x9c\x93 \\ / \x7f", "empty", ""};
    ck_assert_int_eq(crease__st_write(path, t, 2, meta, 4), CREASE_OK);

    crease_st_file *f = NULL;
    ck_assert_int_eq(crease__st_read(path, &f), CREASE_OK);
    ck_assert_int_eq(crease__st_count(f), 2);
    const crease_st_tensor *b = crease__st_find(f, "model.0.bias");
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(bits_of(b->data[0]), 0x80000000u);
    ck_assert_uint_eq(bits_of(b->data[2]), bits_of(1e-40f));
    ck_assert_int_eq(crease__st_meta_count(f), 4);
    for (int i = 0; i < 4; i++) {
        const char *k, *v;
        ck_assert_int_eq(crease__st_meta_get(f, i, &k, &v), CREASE_OK);
        ck_assert_str_eq(k, meta[2 * i]); /* order kept */
        ck_assert_str_eq(v, meta[2 * i + 1]);
        ck_assert_str_eq(crease__st_meta(f, meta[2 * i]), meta[2 * i + 1]);
    }
    ck_assert_int_ne(crease__st_meta_get(f, 4, NULL, NULL), CREASE_OK);
    ck_assert_ptr_null(crease__st_meta(f, "missing"));
    crease__st_free(f);

    /* writing again replaces the file as a whole */
    ck_assert_int_eq(crease__st_write(path, t + 1, 1, NULL, 0), CREASE_OK);
    ck_assert_int_eq(crease__st_read(path, &f), CREASE_OK);
    ck_assert_int_eq(crease__st_count(f), 1);
    ck_assert_int_eq(crease__st_meta_count(f), 0);
    crease__st_free(f);
    unlink(path);

    /* nothing at all is a valid file too */
    ck_assert_int_eq(crease__st_write(path, NULL, 0, NULL, 0), CREASE_OK);
    ck_assert_int_eq(crease__st_read(path, &f), CREASE_OK);
    ck_assert_int_eq(crease__st_count(f), 0);
    crease__st_free(f);
    unlink(path);

    /* I/O errors */
    char bad[8192];
    snprintf(bad, sizeof bad, "%s/no-such-dir/x.safetensors", tmpdir);
    ck_assert_int_eq(crease__st_write(bad, t, 2, NULL, 0), CREASE_EIO);
    f = (crease_st_file *)&f;
    ck_assert_int_eq(crease__st_read(bad, &f), CREASE_EIO);
    ck_assert_ptr_null(f);
    ck_assert_error_has("x.safetensors");
    ck_assert_error_has(strerror(ENOENT));
}
END_TEST

START_TEST(test_write_rejects)
{
    float v[4] = {0};
    crease_st_tensor t[2];
    unsigned char *out = (unsigned char *)&out;
    size_t len;
    memset(t, 0, sizeof t);
    t[0].name = "a", t[0].ndim = 1, t[0].shape[0] = 4, t[0].numel = 4, t[0].data = v;
    t[1] = t[0];
#define REJECT(n, meta, nm)                                                          \
    do {                                                                             \
        ck_assert_int_eq(crease__st_serialize(t, n, meta, nm, &out, &len), CREASE_EINVAL); \
        ck_assert_ptr_null(out);                                                     \
    } while (0)
    REJECT(2, NULL, 0); /* duplicate names */
    ck_assert_error_has("duplicate tensor name \"a\"");
    t[1].name = "__metadata__";
    REJECT(2, NULL, 0);
    t[1].name = "b\xff";
    REJECT(2, NULL, 0);
    ck_assert_error_has("UTF-8");
    t[1].name = NULL;
    REJECT(2, NULL, 0);
    t[1].name = "b";
    t[1].numel = 3;
    REJECT(2, NULL, 0);
    ck_assert_error_has("numel");
    t[1].numel = 4;
    t[1].data = NULL;
    REJECT(2, NULL, 0);
    t[1].data = v;
    t[1].ndim = 9;
    REJECT(2, NULL, 0);
    t[1].ndim = -1;
    REJECT(2, NULL, 0);
    t[1].ndim = 1;
    t[1].shape[0] = -4;
    REJECT(2, NULL, 0);
    t[1].shape[0] = 4;
    const char *dup[] = {"k", "1", "k", "2"};
    REJECT(2, dup, 2);
    ck_assert_error_has("duplicate metadata key");
    const char *nullv[] = {"k", NULL};
    REJECT(2, nullv, 1);
    REJECT(-1, NULL, 0);
    REJECT(2, NULL, 1);
    ck_assert_int_eq(crease__st_serialize(t, 2, dup, 1, &out, &len), CREASE_OK);
    free(out);
    ck_assert_int_eq(crease__st_write(NULL, t, 2, NULL, 0), CREASE_EINVAL);
#undef REJECT
}
END_TEST

/* --------------------------------------------------------- other dtypes */

START_TEST(test_dtypes)
{
    /* F16: 1, -2, smallest subnormal, largest subnormal, 65504, inf, -0,
     * a NaN with payload */
    static const uint16_t h16[8] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0x8000, 0x7e01};
    unsigned char data[16 + 4 + 16];
    for (int i = 0; i < 8; i++) {
        data[2 * i] = (unsigned char)h16[i];
        data[2 * i + 1] = (unsigned char)(h16[i] >> 8);
    }
    /* BF16: 1.0, -3.0 */
    data[16] = 0x80, data[17] = 0x3f, data[18] = 0x40, data[19] = 0xc0;
    /* F64: 0.1, -1e300 (beyond float: -inf) */
    double d64[2] = {0.1, -1e300};
    for (int i = 0; i < 2; i++) {
        uint64_t u;
        memcpy(&u, &d64[i], 8);
        for (int k = 0; k < 8; k++)
            data[20 + 8 * i + k] = (unsigned char)(u >> (8 * k));
    }
    size_t len;
    unsigned char *b = build("{\"h\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]},"
                             "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]},"
                             "\"d\":{\"dtype\":\"F64\",\"shape\":[2,1],\"data_offsets\":[20,36]}}",
                             data, sizeof data, &len);
    crease_st_file *f = NULL;
    ck_assert_int_eq(parse_exact(b, len, &f), CREASE_OK);
    free(b);
    const crease_st_tensor *t = crease__st_find(f, "h");
    ck_assert_str_eq(t->dtype, "F16");
    ck_assert(t->data[0] == 1.0f);
    ck_assert(t->data[1] == -2.0f);
    ck_assert(t->data[2] == ldexpf(1.0f, -24));
    ck_assert(t->data[3] == ldexpf(1023.0f, -24));
    ck_assert(t->data[4] == 65504.0f);
    ck_assert(isinf(t->data[5]) && t->data[5] > 0);
    ck_assert_uint_eq(bits_of(t->data[6]), 0x80000000u);
    ck_assert_uint_eq(bits_of(t->data[7]), 0x7fc02000u);
    t = crease__st_find(f, "bf");
    ck_assert_str_eq(t->dtype, "BF16");
    ck_assert(t->data[0] == 1.0f && t->data[1] == -3.0f);
    t = crease__st_find(f, "d");
    ck_assert_str_eq(t->dtype, "F64");
    ck_assert(t->data[0] == 0.1f);
    ck_assert(isinf(t->data[1]) && t->data[1] < 0);
    crease__st_free(f);
}
END_TEST

/* ----------------------------------------------------- reference models */

START_TEST(test_reference_models)
{
    const char *shared = getenv("CREASE_SHARED_DATA");
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s/baarle/reference-models", shared ? shared : "");
    DIR *dir = shared ? opendir(dirpath) : NULL;
    if (!dir) {
        printf("SKIP test_reference_models: %s not found (set CREASE_SHARED_DATA)\n",
               shared ? dirpath : "$CREASE_SHARED_DATA");
        return;
    }
    int files = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        const char *n = e->d_name;
        size_t nl = strlen(n);
        if (nl < 12 || strcmp(n + nl - 12, ".safetensors") != 0)
            continue;
        /* baarle-W1_W2_..._1.safetensors: widths, then the model version */
        int widths[16] = {0}, nw = 0;
        ck_assert_msg(strncmp(n, "baarle-", 7) == 0, "unexpected file %s", n);
        for (const char *p = n + 7; *p != '.';) {
            char *end;
            long v = strtol(p, &end, 10);
            ck_assert_msg(end != p && v > 0 && nw < 16, "bad name %s", n);
            widths[nw++] = (int)v;
            p = end;
            if (*p == '_')
                p++;
        }
        nw--; /* the trailing _1 is a version */
        ck_assert_int_ge(nw, 1);
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dirpath, n);
        crease_st_file *f = NULL;
        ck_assert_msg(crease__st_read(path, &f) == CREASE_OK, "%s: %s", n, crease_last_error());
        ck_assert_int_eq(crease__st_count(f), 2 * (nw + 1));
        int in = 2;
        for (int l = 0; l <= nw; l++) {
            int out = l < nw ? widths[l] : 2;
            char wn[64], bn[64];
            snprintf(wn, sizeof wn, "model.%d.weight", 2 * l);
            snprintf(bn, sizeof bn, "model.%d.bias", 2 * l);
            const crease_st_tensor *w = crease__st_find(f, wn), *b = crease__st_find(f, bn);
            ck_assert_msg(w && b, "%s: %s or %s missing", n, wn, bn);
            ck_assert_int_eq(w->ndim, 2);
            ck_assert_int_eq(w->shape[0], out);
            ck_assert_int_eq(w->shape[1], in);
            ck_assert_int_eq(b->ndim, 1);
            ck_assert_int_eq(b->shape[0], out);
            ck_assert_str_eq(w->dtype, "F32");
            size_t bad = 0;
            for (size_t i = 0; i < w->numel; i++)
                bad += !isfinite(w->data[i]);
            ck_assert_uint_eq(bad, 0);
            in = out;
        }
        ck_assert_str_eq(crease__st_meta(f, "format"), "pt");
        ck_assert_ptr_nonnull(crease__st_meta(f, "source"));
        crease__st_free(f);
        files++;
    }
    closedir(dir);
    ck_assert_int_ge(files, 1);
    printf("reference models: %d files read\n", files);
}
END_TEST

/* ------------------------------------------------------------- hostile */

struct hostile {
    const char *header;
    size_t data_len; /* zero bytes after the header */
    const char *what; /* part of the expected message */
};

/* one tensor "a" of 2 floats with the given data_offsets */
#define TA_OPEN(off) "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" off "}"
#define TA(off) TA_OPEN(off) "}"

static const struct hostile hostiles[] = {
    /* JSON syntax */
    {"{", 0, "too short"},
    {"{ ", 0, "expected a string"},
    {"[]", 0, "does not start with '{'"},
    {" {}", 0, "does not start with '{'"},
    {"{}x", 0, "trailing garbage"},
    {"{} \n\t}", 0, "trailing garbage"},
    {"{}", 0, ""},        /* valid: no tensors */
    {"{}  \n\t\r ", 0, ""}, /* valid: blank padding */
    {"{\"a\" {}}", 0, "expected ':'"},
    {"{a:{}}", 0, "expected a string"},
    {"{'a':{}}", 0, "expected a string"},
    {TA_OPEN("[0,8]") ",}", 8, "expected a string"},
    {TA_OPEN("[0,8]"), 8, "',' or '}'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},", 8, "expected a string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}}", 8, "trailing garbage"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],}}", 8, "expected a string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}", 8, "expected an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}, }", 8, "expected a string"},
    {"{\"a\":[]}", 0, "expected '{' (tensor info)"},
    {"{\"a\":\"x\"}", 0, "expected '{' (tensor info)"},
    {"{\"a\":{}}", 0, "empty tensor info"},
    {"{\"a", 0, "unterminated string"},
    {"{\"a\\", 0, "unterminated string"},
    {"{\"a\\\"}", 0, "unterminated string"},
    {"{\"a\\x\":{}}", 0, "invalid escape"},
    {"{\"a\\u12\":{}}", 0, "\\u escape"},
    {"{\"a\\u12g4\":{}}", 0, "\\u escape"},
    {"{\"\\ud800\":{}}", 0, "unpaired surrogate"},
    {"{\"\\ud800\\u0041\":{}}", 0, "unpaired surrogate"},
    {"{\"\\udc00\":{}}", 0, "unpaired surrogate"},
    {"{\"a\\u0000b\":{}}", 0, "\\u0000"},
    {"{\"a\tb\":{}}", 0, "control character"},
    {"{\"a\xff\":{}}", 0, "invalid UTF-8"},
    {"{\"a\xc0\xaf\":{}}", 0, "invalid UTF-8"},       /* overlong '/' */
    {"{\"a\xed\xa0\x80\":{}}", 0, "invalid UTF-8"},   /* encoded surrogate */
    {"{\"a\xf4\x90\x80\x80\":{}}", 0, "invalid UTF-8"}, /* > U+10FFFF */
    {"{\"a\xe2\x82\":{}}", 0, "invalid UTF-8"},       /* cut sequence */
    /* tensor info */
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, "missing \"data_offsets\""},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing \"shape\""},
    {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing \"dtype\""},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     "duplicate key \"dtype\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     "duplicate key \"shape\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"data_offsets\":[0,8]}}", 8,
     "duplicate key \"data_offsets\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8,
     "unknown key \"extra\""},
    {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype \"F33\""},
    {"{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype I64"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, "unsupported dtype U8"},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype"},
    {"{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "expected a string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "negative value in shape"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "non-integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}", 8, "non-integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, "leading zero"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "expected an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "expected '[' (shape)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[[2]],\"data_offsets\":[0,8]}}", 8, "expected an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
     "too many dimensions"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8,
     "integer too large"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,8]}}", 8,
     "integer too large"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", 8,
     "shape product overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775807,3],\"data_offsets\":[0,8]}}", 8,
     "shape product overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
     "shape needs"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "shape needs 3 elements"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "shape needs 2 elements"},
    /* offsets */
    {TA("[0]"), 8, "exactly 2 entries"},
    {TA("[0,8,8]"), 8, "exactly 2 entries"},
    {TA("[]"), 8, "expected an integer"},
    {TA("[0,-8]"), 8, "negative value in data_offsets"},
    {TA("[8,0]"), 8, "begin > end"},
    {TA("[0,16]"), 8, "run past the end"},
    {TA("[8,16]"), 8, "run past the end"},
    {TA("[18446744073709551608,18446744073709551615]"), 8, "integer too large"},
    {TA("[9223372036854775800,9223372036854775807]"), 8, "run past the end"},
    {TA("[0,8]"), 16, "cover only 8"},
    {TA("[0,8]"), 0, "run past the end"},
    {TA("[8,16]"), 16, "hole in the data section: bytes [0, 8)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "overlap"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, "overlap"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
     20, "hole in the data section: bytes [8, 12)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
     16, "duplicate tensor name \"a\""},
    /* metadata */
    {"{\"__metadata__\":{\"k\":1}}", 0, "must be a string"},
    {"{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "must be a string"},
    {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate __metadata__ key \"k\""},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\""},
    {"{\"__metadata__\":[]}", 0, "expected '{' (__metadata__)"},
    {"{\"__metadata__\":nul}", 0, "expected '{' (__metadata__)"},
    {"{\"__metadata__\":{\"k\":\"v\"", 0, "',' or '}'"},
    {"{\"__metadata__\":{\"k\" \"v\"}}", 0, "expected ':'"},
};

START_TEST(test_hostile_table)
{
    const struct hostile *h = &hostiles[_i];
    unsigned char zero[32] = {0};
    size_t len;
    ck_assert_uint_le(h->data_len, sizeof zero);
    unsigned char *b = build(h->header, zero, h->data_len, &len);
    crease_st_file *f = (crease_st_file *)&f;
    int rc = parse_exact(b, len, &f);
    free(b);
    if (h->what[0] == '\0') { /* the valid entries */
        ck_assert_int_eq(rc, CREASE_OK);
        crease__st_free(f);
        return;
    }
    ck_assert_msg(rc == CREASE_EFORMAT, "case %d (%s): status %d, error \"%s\"", _i, h->header,
                  rc, crease_last_error());
    ck_assert_ptr_null(f);
    ck_assert_error_has("hostile.safetensors: ");
    ck_assert_msg(strstr(crease_last_error(), h->what) != NULL,
                  "case %d (%s): error \"%s\" lacks \"%s\"", _i, h->header, crease_last_error(),
                  h->what);
}
END_TEST

/* Bad length fields, built byte by byte. */
START_TEST(test_hostile_length)
{
    crease_st_file *f = (crease_st_file *)&f;
    unsigned char b[64];
    memset(b, ' ', sizeof b);
    /* shorter than the length field */
    ck_assert_int_eq(parse_exact(b, 0, &f), CREASE_EFORMAT);
    ck_assert_error_has("too short");
    ck_assert_int_eq(parse_exact(b, 7, &f), CREASE_EFORMAT);
    ck_assert_ptr_null(f);
    /* zero and one-byte headers */
    memset(b, 0, 8);
    ck_assert_int_eq(parse_exact(b, 8, &f), CREASE_EFORMAT);
    ck_assert_error_has("empty");
    b[0] = 1;
    b[8] = '{';
    ck_assert_int_eq(parse_exact(b, 9, &f), CREASE_EFORMAT);
    /* past the end of the file */
    memcpy(b + 8, "{}", 2);
    b[0] = 3;
    ck_assert_int_eq(parse_exact(b, 10, &f), CREASE_EFORMAT);
    ck_assert_error_has("runs past the end of the file");
    /* absurdly large: 200 MB and 2^64 - 1 */
    uint64_t big[] = {200000000ull, 100000001ull, UINT64_MAX, 1ull << 63};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)(big[i] >> (8 * k));
        ck_assert_int_eq(parse_exact(b, sizeof b, &f), CREASE_EFORMAT);
        ck_assert_error_has("absurd");
        ck_assert_ptr_null(f);
    }
    /* exactly "{}" with spaces: a valid empty file */
    b[0] = 8;
    memset(b + 1, 0, 7);
    memcpy(b + 8, "{}      ", 8);
    ck_assert_int_eq(parse_exact(b, 16, &f), CREASE_OK);
    ck_assert_int_eq(crease__st_count(f), 0);
    crease__st_free(f);
    /* a file on disk that is not safetensors at all */
    char path[8192];
    snprintf(path, sizeof path, "%s/text.safetensors", tmpdir);
    const char *text = "this is not a safetensors file\n";
    ck_write_file(path, text, strlen(text));
    ck_assert_int_eq(crease__st_read(path, &f), CREASE_EFORMAT);
    ck_assert_error_has("text.safetensors");
    unlink(path);
    ck_assert_int_eq(crease__st_read(NULL, &f), CREASE_EINVAL);
    ck_assert_int_eq(crease__st_parse("x", NULL, 10, &f), CREASE_EINVAL);
}
END_TEST

/* Deep nesting and long inputs: bounded work, no recursion. */
START_TEST(test_hostile_nesting)
{
    size_t n = 1000000;
    char *h = malloc(n + 64);
    ck_assert_ptr_nonnull(h);
    strcpy(h, "{\"a\":{\"dtype\":\"F32\",\"shape\":");
    size_t at = strlen(h);
    memset(h + at, '[', n);
    h[at + n] = '\0';
    size_t len;
    unsigned char *b = build(h, NULL, 0, &len);
    crease_st_file *f = NULL;
    ck_assert_int_eq(parse_exact(b, len, &f), CREASE_EFORMAT);
    free(b);
    /* a very long tensor name is fine */
    memset(h, 'n', n);
    h[0] = '{';
    h[1] = '"';
    strcpy(h + n - 40, "\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}");
    float one = 1.0f;
    b = build(h, &one, 4, &len);
    ck_assert_int_eq(parse_exact(b, len, &f), CREASE_OK);
    ck_assert_int_eq(crease__st_count(f), 1);
    ck_assert_uint_eq(strlen(crease__st_get(f, 0)->name), n - 42);
    ck_assert_uint_eq(crease__st_get(f, 0)->numel, 1);
    crease__st_free(f);
    free(b);
    free(h);
}
END_TEST

/* Every prefix and many single-byte changes of a valid file: each must be
 * read or refused, never crash or read out of bounds (ASan build). */
START_TEST(test_hostile_mutations)
{
    float w[6] = {1, 2, 3, 4, 5, 6}, bias[2] = {7, 8};
    crease_st_tensor t[2];
    memset(t, 0, sizeof t);
    t[0].name = "model.0.weight", t[0].ndim = 2, t[0].shape[0] = 2, t[0].shape[1] = 3;
    t[0].numel = 6, t[0].data = w;
    t[1].name = "model.0.bias\\u", t[1].ndim = 1, t[1].shape[0] = 2, t[1].numel = 2;
    t[1].data = bias;
    const char *meta[] = {"format", "pt\"\xc3\xa9"};
    unsigned char *good;
    size_t len;
    ck_assert_int_eq(crease__st_serialize(t, 2, meta, 1, &good, &len), CREASE_OK);
    crease_st_file *f = NULL;
    int ok = 0, bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        int rc = parse_exact(good, cut, &f);
        if (rc != CREASE_EFORMAT)
            ck_abort_msg("prefix of %zu bytes: status %d", cut, rc);
    }
    static const unsigned char vals[] = {0, ' ', '"', '\\', ',', ':', '[', ']', '{', '}',
                                         '-', '0', '9', 'e', 'u', 0x80, 0xff};
    unsigned char *m = malloc(len);
    ck_assert_ptr_nonnull(m);
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++)
        hl |= (uint64_t)good[k] << (8 * k);
    for (size_t i = 0; i < 8 + hl; i++)
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(m, good, len);
            m[i] = vals[v];
            int rc = parse_exact(m, len, &f);
            if (rc == CREASE_OK) {
                ok++;
                crease__st_free(f);
            } else if (rc == CREASE_EFORMAT || rc == CREASE_ENOMEM) {
                bad++;
            } else {
                ck_abort_msg("byte %zu = 0x%02x: status %d", i, vals[v], rc);
            }
        }
    free(m);
    free(good);
    ck_assert_int_gt(bad, 0);
    printf("mutations: %d read, %d refused\n", ok, bad);
}
END_TEST

int main(void)
{
    if (!ck_make_tmpdir(tmpdir, sizeof tmpdir, "crease-check-st")) {
        perror("mkdtemp");
        return 99;
    }
    Suite *s = suite_create("safetensors");
    ck_add_tcase(s, "roundtrip", NULL, NULL, 300,
                 CK_TESTS(test_roundtrip_bits, test_roundtrip_file_and_meta, test_write_rejects,
                          test_dtypes, test_reference_models));
    TCase *tc = ck_add_tcase(s, "hostile", NULL, NULL, 300,
                             CK_TESTS(test_hostile_length, test_hostile_nesting,
                                      test_hostile_mutations));
    tcase_add_loop_test(tc, test_hostile_table, 0, (int)(sizeof hostiles / sizeof hostiles[0]));

    int status = ck_run(s);
    ck_remove_tree(tmpdir);
    return status;
}
