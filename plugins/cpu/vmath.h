/* vmath.h -- exp, log, tanh and sigmoid on simd.h vectors, and the
 * activations built from them.
 *
 * Our own rather than libm's so that one call handles a whole vector, and
 * so that every variant computes an element the same way wherever it lies
 * (a tail element goes through the same code as the others).  Accuracy is
 * about 1-2 ulp over the whole range: exp reduces by n ln2 in two parts
 * (Cody-Waite) and evaluates a degree-7 Taylor polynomial on
 * |r| <= ln2 / 2 (truncation below 0.1 ulp); 2^n is applied in two halves
 * so that results in the subnormal range are right too.  NaN propagates,
 * exp(+inf) = inf and exp(-inf) = 0.
 */
#ifndef CREASE_CPU_VMATH_H
#define CREASE_CPU_VMATH_H

#include "simd.h"

#include <crease/backend.h>

/* e^x */
V_INLINE vf v_exp(vf x)
{
    /* beyond these the result is inf or 0 anyway; clamping keeps n in the
     * range where 2^(n/2) is a normal float */
    vf xc = v_min(v_max(x, v_set1(-104.0f)), v_set1(89.0f));
    vf n = v_round(v_mul(xc, v_set1(1.44269504088896341f)));
    vf r = v_fma(n, v_set1(-0.693359375f), xc); /* n ln2_hi is exact */
    r = v_fma(n, v_set1(2.12194440e-4f), r);    /* - n ln2_lo */
    vf p = v_set1(1.0f / 5040.0f);
    p = v_fma(p, r, v_set1(1.0f / 720.0f));
    p = v_fma(p, r, v_set1(1.0f / 120.0f));
    p = v_fma(p, r, v_set1(1.0f / 24.0f));
    p = v_fma(p, r, v_set1(1.0f / 6.0f));
    p = v_fma(p, r, v_set1(0.5f));
    p = v_fma(p, r, v_set1(1.0f));
    p = v_fma(p, r, v_set1(1.0f));
    vi ni = v_cvt_i(n);
    vi n1 = v_i_sra1(ni);
    vi n2 = v_i_sub(ni, n1);
    vf y = v_mul(v_mul(p, v_pow2i(n1)), v_pow2i(n2));
    return v_sel(v_isnan(x), x, y);
}

/* 2 atanh(s) = log((1 + s) / (1 - s)) for |s| <= 0.172: s + s (2 + s^2 q)
 * by the odd series to s^11 (truncation below 0.01 ulp) */
V_INLINE vf v_2atanh_small(vf s)
{
    vf s2 = v_mul(s, s);
    vf q = v_set1(2.0f / 11.0f);
    q = v_fma(q, s2, v_set1(2.0f / 9.0f));
    q = v_fma(q, s2, v_set1(2.0f / 7.0f));
    q = v_fma(q, s2, v_set1(2.0f / 5.0f));
    q = v_fma(q, s2, v_set1(2.0f / 3.0f));
    return v_fma(v_mul(s, s2), q, v_add(s, s));
}

/* log(x) for x >= 1 (the only arguments here: sums of exponentials that
 * include e^0, and 1 + e^-|z|); +inf gives +inf.  x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1),
 * |s| <= 0.172, by its odd series to s^11 (truncation below 0.01 ulp). */
V_INLINE vf v_log_ge1(vf x)
{
    vi bits = v_as_i(x);
    vi e = v_i_addc(v_i_srl23(bits), -127);
    vf m = v_as_f(v_i_or(v_i_and(bits, 0x007fffff), 0x3f800000)); /* [1, 2) */
    vm big = v_gt(m, v_set1(1.41421356f));
    m = v_sel(big, v_mul(m, v_set1(0.5f)), m);
    vf ef = v_add(v_i_tof(e), v_sel(big, v_set1(1.0f), v_zero()));
    vf f = v_sub(m, v_set1(1.0f)); /* exact */
    vf lm = v_2atanh_small(v_div(f, v_add(m, v_set1(1.0f))));
    vf y = v_fma(ef, v_set1(0.693359375f), v_fma(ef, v_set1(-2.12194440e-4f), lm));
    vf inf = v_set1(__builtin_inff());
    y = v_sel(v_eq(x, inf), inf, y);
    return v_sel(v_isnan(x), x, y);
}

/* log(1 + x) for x >= 0 (or NaN).  Below sqrt(2) - 1 directly as
 * 2 atanh(x / (2 + x)), which never forms 1 + x; above, log(1 + x), whose
 * rounding then costs well under an ulp of the result. */
V_INLINE vf v_log1p_pos(vf x)
{
    vf small = v_2atanh_small(v_div(x, v_add(v_set1(2.0f), x)));
    vf big = v_log_ge1(v_add(v_set1(1.0f), x));
    return v_sel(v_lt(x, v_set1(0.41421356f)), small, big); /* NaN: big is NaN */
}

/* 1 / (1 + e^-x), without overflow: e^-|x| is at most 1 */
V_INLINE vf v_sigmoid(vf x)
{
    vf one = v_set1(1.0f);
    vf e = v_exp(v_sub(v_zero(), v_abs(x)));
    vf num = v_sel(v_ge(x, v_zero()), one, e);
    return v_div(num, v_add(one, e)); /* NaN: e is NaN */
}

/* tanh: odd Taylor series to x^17 below 0.55 (next term < 0.1 ulp);
 * above, 1 - 2 / (e^2|x| + 1), which loses nothing there; both on |x|,
 * then x's sign (so tanh(-0) = -0) */
V_INLINE vf v_tanh(vf x)
{
    vf a = v_abs(x);
    vf x2 = v_mul(a, a);
    vf q = v_set1(6404582.0f / 10854718875.0f);
    q = v_fma(q, x2, v_set1(-929569.0f / 638512875.0f));
    q = v_fma(q, x2, v_set1(21844.0f / 6081075.0f));
    q = v_fma(q, x2, v_set1(-1382.0f / 155925.0f));
    q = v_fma(q, x2, v_set1(62.0f / 2835.0f));
    q = v_fma(q, x2, v_set1(-17.0f / 315.0f));
    q = v_fma(q, x2, v_set1(2.0f / 15.0f));
    q = v_fma(q, x2, v_set1(-1.0f / 3.0f));
    vf small = v_fma(v_mul(a, x2), q, a);
    vf e = v_exp(v_add(a, a));
    vf big = v_sub(v_set1(1.0f), v_div(v_set1(2.0f), v_add(e, v_set1(1.0f))));
    vf t = v_sel(v_lt(a, v_set1(0.55f)), small, big); /* NaN: big is NaN */
    return v_bits_xor(t, v_signbit(x));
}

/* The activations of backend.h; NaN propagates (relu(NaN) = NaN) and
 * relu(-0) = -0, as in the scalar definitions. */
V_INLINE vf v_act(int act, float alpha, vf x)
{
    switch (act) {
    case CREASE_ACT_RELU:
        return v_sel(v_lt(x, v_zero()), v_zero(), x);
    case CREASE_ACT_LEAKY_RELU:
        return v_sel(v_gt(x, v_zero()), x, v_mul(v_set1(alpha), x));
    case CREASE_ACT_TANH:
        return v_tanh(x);
    case CREASE_ACT_SIGMOID:
        return v_sigmoid(x);
    default:
        return x;
    }
}

#endif
