/* check_tensor.c -- tensors, status strings, the last-error detail, RNG. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "internal.h"

#include "check_common.h"

static crease_device *dev;

static void setup(void)
{
    ck_assert_int_eq(crease_device_open("cpu:0", &dev), CREASE_OK);
}

static void teardown(void)
{
    crease_device_free(dev);
}

START_TEST(test_roundtrip)
{
    int64_t shape[4] = {2, 3, 4, 5};
    crease_tensor *t;
    ck_assert_int_eq(crease_tensor_new(dev, 4, shape, &t), CREASE_OK);
    ck_assert_int_eq(crease_tensor_ndim(t), 4);
    ck_assert_int_eq(crease_tensor_dim(t, 2), 4);
    ck_assert_int_eq(crease_tensor_dim(t, 4), 0);
    ck_assert_uint_eq(crease_tensor_numel(t), 120);
    float in[120], out[120];
    for (int i = 0; i < 120; i++) in[i] = (float)i * 0.5f - 7.0f;
    in[3] = NAN;
    in[4] = -0.0f;
    ck_assert_int_eq(crease_tensor_write(t, in), CREASE_OK);
    ck_assert_int_eq(crease_tensor_read(t, out), CREASE_OK);
    ck_assert(memcmp(in, out, sizeof in) == 0); /* bit-identical, NaN and -0 included */
    ck_assert_int_eq(crease_tensor_fill(t, 2.5f), CREASE_OK);
    ck_assert_int_eq(crease_tensor_read(t, out), CREASE_OK);
    for (int i = 0; i < 120; i++) ck_assert_float_eq(out[i], 2.5f);
    crease_tensor_free(t);
    crease_tensor_free(NULL);
}
END_TEST

START_TEST(test_bad_shapes)
{
    crease_tensor *t = (crease_tensor *)1;
    int64_t zero[2] = {3, 0}, neg[1] = {-2}, five[5] = {1, 1, 1, 1, 1};
    int64_t huge[4] = {1LL << 40, 1LL << 40, 1, 1};
    ck_assert_int_eq(crease_tensor_new(dev, 2, zero, &t), CREASE_EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(crease_last_error(), "dimension 1 is 0"));
    ck_assert_int_eq(crease_tensor_new(dev, 1, neg, &t), CREASE_EINVAL);
    ck_assert_int_eq(crease_tensor_new(dev, 5, five, &t), CREASE_EINVAL);
    ck_assert_int_eq(crease_tensor_new(dev, 0, five, &t), CREASE_EINVAL);
    ck_assert_int_eq(crease_tensor_new(dev, 4, huge, &t), CREASE_ENOMEM);
    ck_assert_int_eq(crease_tensor_new(NULL, 1, five, &t), CREASE_EINVAL);
    ck_assert_int_eq(crease_tensor_write(NULL, NULL), CREASE_EINVAL);
}
END_TEST

START_TEST(test_status_strings)
{
    int codes[] = {CREASE_OK, CREASE_EINVAL, CREASE_ENOMEM, CREASE_EIO, CREASE_EFORMAT, CREASE_ENODEV,
                   CREASE_EPLUGIN, CREASE_EBACKEND, CREASE_EUNSUPPORTED, CREASE_EDEVICE_LOST};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        const char *s = crease_status_str(codes[i]);
        ck_assert(s && *s && strcmp(s, "unknown status"));
        for (size_t j = 0; j < i; j++) ck_assert_str_ne(s, crease_status_str(codes[j]));
    }
    ck_assert_str_eq(crease_status_str(-1000), "unknown status");
    ck_assert_int_eq(crease__error(CREASE_EIO, "file %s line %d", "x.csv", 3), CREASE_EIO);
    ck_assert_str_eq(crease_last_error(), "file x.csv line 3");
    ck_assert_str_eq(crease_version(), PACKAGE_VERSION);
}
END_TEST

START_TEST(test_rng_reproducible)
{
    crease_rng a, b;
    crease__rng_seed(&a, 42);
    crease__rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(crease__rng_u64(&a), crease__rng_u64(&b));
    crease__rng_seed(&b, 43);
    ck_assert_uint_ne(crease__rng_u64(&a), crease__rng_u64(&b));
    /* Moments of the uniform and normal generators. */
    double su = 0, sn = 0, sn2 = 0;
    int counts[7] = {0};
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        double u = crease__rng_uniform(&a);
        ck_assert(u >= 0.0 && u < 1.0);
        su += u;
        double z = crease__rng_normal(&a);
        sn += z;
        sn2 += z * z;
        counts[crease__rng_below(&a, 7)]++;
    }
    ck_assert_double_eq_tol(su / N, 0.5, 0.01);
    ck_assert_double_eq_tol(sn / N, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / N, 1.0, 0.02);
    for (int k = 0; k < 7; k++) ck_assert_double_eq_tol(counts[k] / (double)N, 1.0 / 7, 0.01);
}
END_TEST

CK_MAIN("tensor", setup, teardown, 0, test_roundtrip, test_bad_shapes, test_status_strings,
        test_rng_reproducible)
