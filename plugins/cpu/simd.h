/* simd.h -- one small vector vocabulary over the instruction sets the cpu
 * plugin is built for.  Kernels (gemm.c, ops.c) are written once against it
 * and compiled once per variant:
 *
 *   __AVX512F__               16 floats, __m512, mask registers
 *   __AVX2__ && __FMA__       8 floats, __m256
 *   CPU_VARIANT_NEON (AArch64)    4 floats, float32x4_t (set by the neon variant)
 *   GNU C vectors             4 floats (SSE2 on x86-64, NEON on AArch64):
 *                             the portable variant
 *   otherwise                 1 float, plain C
 *
 * Only the kernel files include this header; plugin.c and pool.c, which run
 * before the loader has checked the processor, never do.
 *
 * Every function works lane by lane, so a value's arithmetic does not depend
 * on which lane or which call it lands in -- the property that keeps the
 * results independent of the thread count.  v_fma is fused where the
 * instruction set has FMA (AVX2, AVX-512, AArch64) and a multiply then an
 * add elsewhere; the kernel files are compiled with -ffp-contract=off so
 * that the compiler never fuses on its own in one place and not another.
 */
#ifndef CREASE_CPU_SIMD_H
#define CREASE_CPU_SIMD_H

#include <stdint.h>
#include <string.h>

#define V_INLINE static inline __attribute__((always_inline))

/* ================================================================ AVX-512 */
#if defined(__AVX512F__)
#include <immintrin.h>

#define V_ISA "avx512"
#define V_LEN 16
typedef __m512 vf;
typedef __mmask16 vm;
typedef __m512i vi;

V_INLINE vf v_zero(void) { return _mm512_setzero_ps(); }
V_INLINE vf v_set1(float x) { return _mm512_set1_ps(x); }
V_INLINE vf v_load(const float *p) { return _mm512_loadu_ps(p); }
V_INLINE void v_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
/* lanes [0, n) with 0 < n <= V_LEN; masked lanes are neither read nor
 * written (no fault past the end of a buffer) */
V_INLINE vm v_first(int n) { return (vm)(0xffffu >> (16 - n)); }
V_INLINE vf v_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps(v_first(n), p); }
V_INLINE void v_store_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, v_first(n), v); }
V_INLINE vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
V_INLINE vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
V_INLINE vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
V_INLINE vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
V_INLINE vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); } /* a b + c */
V_INLINE vf v_sqrt(vf a) { return _mm512_sqrt_ps(a); }
V_INLINE vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); } /* NaN: b */
V_INLINE vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); } /* NaN: b */
V_INLINE vm v_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
V_INLINE vm v_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
V_INLINE vm v_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
V_INLINE vm v_eq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
V_INLINE vm v_isnan(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
V_INLINE vm v_mand(vm a, vm b) { return (vm)(a & b); }
V_INLINE vm v_mandnot(vm a, vm b) { return (vm)(a & ~b); } /* a and not b */
V_INLINE vm v_mor(vm a, vm b) { return (vm)(a | b); }
V_INLINE int v_many(vm a) { return a != 0; }
V_INLINE vf v_sel(vm m, vf t, vf f) { return _mm512_mask_blend_ps(m, f, t); }
V_INLINE vf v_bits_and(vf a, uint32_t m)
{
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)m)));
}
V_INLINE vf v_bits_xor(vf a, vf b)
{
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
V_INLINE vf v_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* integers: exponent tricks of exp and log */
V_INLINE vi v_cvt_i(vf a) { return _mm512_cvtps_epi32(a); } /* a already integral */
V_INLINE vi v_i_sra1(vi a) { return _mm512_srai_epi32(a, 1); }
V_INLINE vi v_i_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
/* 2^n for integer lanes n in [-126, 127] */
V_INLINE vf v_pow2i(vi n)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23));
}
V_INLINE vi v_as_i(vf a) { return _mm512_castps_si512(a); }
V_INLINE vf v_as_f(vi a) { return _mm512_castsi512_ps(a); }
V_INLINE vi v_i_srl23(vi a) { return _mm512_srli_epi32(a, 23); }
V_INLINE vi v_i_and(vi a, int32_t m) { return _mm512_and_si512(a, _mm512_set1_epi32(m)); }
V_INLINE vi v_i_or(vi a, int32_t m) { return _mm512_or_si512(a, _mm512_set1_epi32(m)); }
V_INLINE vi v_i_addc(vi a, int32_t c) { return _mm512_add_epi32(a, _mm512_set1_epi32(c)); }
V_INLINE vf v_i_tof(vi a) { return _mm512_cvtepi32_ps(a); }

/* lane l of the result = the sum of the lanes of x[l] (a transposing
 * reduction: pairwise adds within 128-bit lanes, then across them) */
V_INLINE vf v_hadd128(vf a, vf b)
{
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xdd));
}
V_INLINE vf v_reduce_lanes(const vf *x)
{
    vf w0 = v_hadd128(v_hadd128(x[0], x[1]), v_hadd128(x[2], x[3]));
    vf w1 = v_hadd128(v_hadd128(x[4], x[5]), v_hadd128(x[6], x[7]));
    vf w2 = v_hadd128(v_hadd128(x[8], x[9]), v_hadd128(x[10], x[11]));
    vf w3 = v_hadd128(v_hadd128(x[12], x[13]), v_hadd128(x[14], x[15]));
    vf s01 = _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, 0x44), _mm512_shuffle_f32x4(w0, w1, 0xee));
    vf s23 = _mm512_add_ps(_mm512_shuffle_f32x4(w2, w3, 0x44), _mm512_shuffle_f32x4(w2, w3, 0xee));
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xdd));
}

/* doubles: exact float sums for the reductions (V_LEN / 2 per vector) */
typedef __m512d vd;
V_INLINE vd vd_zero(void) { return _mm512_setzero_pd(); }
V_INLINE vd vd_add(vd a, vd b) { return _mm512_add_pd(a, b); }
V_INLINE vd vd_lo(vf a) { return _mm512_cvtps_pd(_mm512_castps512_ps256(a)); }
V_INLINE vd vd_hi(vf a)
{
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}
V_INLINE vd vd_load(const double *p) { return _mm512_loadu_pd(p); }
V_INLINE void vd_store(double *p, vd v) { _mm512_storeu_pd(p, v); }

/* ================================================================ AVX2 + FMA */
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define V_ISA "avx2"
#define V_LEN 8
typedef __m256 vf;
typedef __m256 vm; /* all-ones / all-zeros lanes */
typedef __m256i vi;

V_INLINE vf v_zero(void) { return _mm256_setzero_ps(); }
V_INLINE vf v_set1(float x) { return _mm256_set1_ps(x); }
V_INLINE vf v_load(const float *p) { return _mm256_loadu_ps(p); }
V_INLINE void v_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
V_INLINE __m256i v_first(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* vmaskmov does not fault on masked-out lanes */
V_INLINE vf v_load_n(const float *p, int n) { return _mm256_maskload_ps(p, v_first(n)); }
V_INLINE void v_store_n(float *p, vf v, int n) { _mm256_maskstore_ps(p, v_first(n), v); }
V_INLINE vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
V_INLINE vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
V_INLINE vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
V_INLINE vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
V_INLINE vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
V_INLINE vf v_sqrt(vf a) { return _mm256_sqrt_ps(a); }
V_INLINE vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
V_INLINE vf v_min(vf a, vf b) { return _mm256_min_ps(a, b); }
V_INLINE vm v_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
V_INLINE vm v_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
V_INLINE vm v_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
V_INLINE vm v_eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
V_INLINE vm v_isnan(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
V_INLINE vm v_mand(vm a, vm b) { return _mm256_and_ps(a, b); }
V_INLINE vm v_mandnot(vm a, vm b) { return _mm256_andnot_ps(b, a); }
V_INLINE vm v_mor(vm a, vm b) { return _mm256_or_ps(a, b); }
V_INLINE int v_many(vm a) { return _mm256_movemask_ps(a) != 0; }
V_INLINE vf v_sel(vm m, vf t, vf f) { return _mm256_blendv_ps(f, t, m); }
V_INLINE vf v_bits_and(vf a, uint32_t m)
{
    return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32((int)m)));
}
V_INLINE vf v_bits_xor(vf a, vf b) { return _mm256_xor_ps(a, b); }
V_INLINE vf v_round(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
V_INLINE vi v_cvt_i(vf a) { return _mm256_cvtps_epi32(a); }
V_INLINE vi v_i_sra1(vi a) { return _mm256_srai_epi32(a, 1); }
V_INLINE vi v_i_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
V_INLINE vf v_pow2i(vi n)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}
V_INLINE vi v_as_i(vf a) { return _mm256_castps_si256(a); }
V_INLINE vf v_as_f(vi a) { return _mm256_castsi256_ps(a); }
V_INLINE vi v_i_srl23(vi a) { return _mm256_srli_epi32(a, 23); }
V_INLINE vi v_i_and(vi a, int32_t m) { return _mm256_and_si256(a, _mm256_set1_epi32(m)); }
V_INLINE vi v_i_or(vi a, int32_t m) { return _mm256_or_si256(a, _mm256_set1_epi32(m)); }
V_INLINE vi v_i_addc(vi a, int32_t c) { return _mm256_add_epi32(a, _mm256_set1_epi32(c)); }
V_INLINE vf v_i_tof(vi a) { return _mm256_cvtepi32_ps(a); }

/* lane l of the result = the sum of the lanes of x[l] */
V_INLINE vf v_reduce_lanes(const vf *x)
{
    vf w0 = _mm256_hadd_ps(_mm256_hadd_ps(x[0], x[1]), _mm256_hadd_ps(x[2], x[3]));
    vf w1 = _mm256_hadd_ps(_mm256_hadd_ps(x[4], x[5]), _mm256_hadd_ps(x[6], x[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(w0, w1, 0x20), _mm256_permute2f128_ps(w0, w1, 0x31));
}

typedef __m256d vd;
V_INLINE vd vd_zero(void) { return _mm256_setzero_pd(); }
V_INLINE vd vd_add(vd a, vd b) { return _mm256_add_pd(a, b); }
V_INLINE vd vd_lo(vf a) { return _mm256_cvtps_pd(_mm256_castps256_ps128(a)); }
V_INLINE vd vd_hi(vf a) { return _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)); }
V_INLINE vd vd_load(const double *p) { return _mm256_loadu_pd(p); }
V_INLINE void vd_store(double *p, vd v) { _mm256_storeu_pd(p, v); }

/* ================================================================ NEON (AArch64) */
#elif defined(CPU_VARIANT_NEON) && defined(__aarch64__)
#include <arm_neon.h>

#define V_ISA "neon"
#define V_LEN 4
typedef float32x4_t vf;
typedef uint32x4_t vm;
typedef int32x4_t vi;

V_INLINE vf v_zero(void) { return vdupq_n_f32(0.0f); }
V_INLINE vf v_set1(float x) { return vdupq_n_f32(x); }
V_INLINE vf v_load(const float *p) { return vld1q_f32(p); }
V_INLINE void v_store(float *p, vf v) { vst1q_f32(p, v); }
V_INLINE vf v_load_n(const float *p, int n)
{
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (size_t)n * sizeof(float));
    return vld1q_f32(t);
}
V_INLINE void v_store_n(float *p, vf v, int n)
{
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}
V_INLINE vf v_add(vf a, vf b) { return vaddq_f32(a, b); }
V_INLINE vf v_sub(vf a, vf b) { return vsubq_f32(a, b); }
V_INLINE vf v_mul(vf a, vf b) { return vmulq_f32(a, b); }
V_INLINE vf v_div(vf a, vf b) { return vdivq_f32(a, b); }
V_INLINE vf v_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
V_INLINE vf v_sqrt(vf a) { return vsqrtq_f32(a); }
/* fmax/fmin semantics differ from x86 on NaN; callers never rely on either */
V_INLINE vf v_max(vf a, vf b) { return vmaxq_f32(a, b); }
V_INLINE vf v_min(vf a, vf b) { return vminq_f32(a, b); }
V_INLINE vm v_lt(vf a, vf b) { return vcltq_f32(a, b); }
V_INLINE vm v_gt(vf a, vf b) { return vcgtq_f32(a, b); }
V_INLINE vm v_ge(vf a, vf b) { return vcgeq_f32(a, b); }
V_INLINE vm v_eq(vf a, vf b) { return vceqq_f32(a, b); }
V_INLINE vm v_isnan(vf a) { return vmvnq_u32(vceqq_f32(a, a)); }
V_INLINE vm v_mand(vm a, vm b) { return vandq_u32(a, b); }
V_INLINE vm v_mandnot(vm a, vm b) { return vbicq_u32(a, b); }
V_INLINE vm v_mor(vm a, vm b) { return vorrq_u32(a, b); }
V_INLINE int v_many(vm a) { return vmaxvq_u32(a) != 0; }
V_INLINE vf v_sel(vm m, vf t, vf f) { return vbslq_f32(m, t, f); }
V_INLINE vf v_bits_and(vf a, uint32_t m)
{
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(m)));
}
V_INLINE vf v_bits_xor(vf a, vf b)
{
    return vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)));
}
V_INLINE vf v_round(vf a) { return vrndnq_f32(a); }
V_INLINE vi v_cvt_i(vf a) { return vcvtnq_s32_f32(a); }
V_INLINE vi v_i_sra1(vi a) { return vshrq_n_s32(a, 1); }
V_INLINE vi v_i_sub(vi a, vi b) { return vsubq_s32(a, b); }
V_INLINE vf v_pow2i(vi n)
{
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n, vdupq_n_s32(127)), 23));
}
V_INLINE vi v_as_i(vf a) { return vreinterpretq_s32_f32(a); }
V_INLINE vf v_as_f(vi a) { return vreinterpretq_f32_s32(a); }
V_INLINE vi v_i_srl23(vi a)
{
    return vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(a), 23));
}
V_INLINE vi v_i_and(vi a, int32_t m) { return vandq_s32(a, vdupq_n_s32(m)); }
V_INLINE vi v_i_or(vi a, int32_t m) { return vorrq_s32(a, vdupq_n_s32(m)); }
V_INLINE vi v_i_addc(vi a, int32_t c) { return vaddq_s32(a, vdupq_n_s32(c)); }
V_INLINE vf v_i_tof(vi a) { return vcvtq_f32_s32(a); }

/* lane l of the result = the sum of the lanes of x[l] */
V_INLINE vf v_reduce_lanes(const vf *x)
{
    return vpaddq_f32(vpaddq_f32(x[0], x[1]), vpaddq_f32(x[2], x[3]));
}

typedef float64x2_t vd;
V_INLINE vd vd_zero(void) { return vdupq_n_f64(0.0); }
V_INLINE vd vd_add(vd a, vd b) { return vaddq_f64(a, b); }
V_INLINE vd vd_lo(vf a) { return vcvt_f64_f32(vget_low_f32(a)); }
V_INLINE vd vd_hi(vf a) { return vcvt_high_f64_f32(a); }
V_INLINE vd vd_load(const double *p) { return vld1q_f64(p); }
V_INLINE void vd_store(double *p, vd v) { vst1q_f64(p, v); }

/* ================================================================ GNU C vectors */
#elif defined(__GNUC__) && !defined(CPU_NO_VECTOR_TYPES)
#include <math.h>

#define V_ISA "generic"
#define V_LEN 4
typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));
typedef vi vm; /* lanes -1 / 0, as GNU vector comparisons give */
typedef double vd __attribute__((vector_size(16)));

V_INLINE vf v_zero(void) { return (vf){0.0f, 0.0f, 0.0f, 0.0f}; }
V_INLINE vf v_set1(float x) { return (vf){x, x, x, x}; }
V_INLINE vf v_load(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
V_INLINE void v_store(float *p, vf v) { memcpy(p, &v, sizeof v); }
V_INLINE vf v_load_n(const float *p, int n)
{
    vf v = v_zero();
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}
V_INLINE void v_store_n(float *p, vf v, int n) { memcpy(p, &v, (size_t)n * sizeof(float)); }
V_INLINE vf v_add(vf a, vf b) { return a + b; }
V_INLINE vf v_sub(vf a, vf b) { return a - b; }
V_INLINE vf v_mul(vf a, vf b) { return a * b; }
V_INLINE vf v_div(vf a, vf b) { return a / b; }
V_INLINE vf v_fma(vf a, vf b, vf c) { return a * b + c; } /* not fused: no FMA in the baseline */
V_INLINE vf v_sqrt(vf a)
{
    for (int i = 0; i < 4; i++)
        a[i] = sqrtf(a[i]);
    return a;
}
V_INLINE vm v_lt(vf a, vf b) { return a < b; }
V_INLINE vm v_gt(vf a, vf b) { return a > b; }
V_INLINE vm v_ge(vf a, vf b) { return a >= b; }
V_INLINE vm v_eq(vf a, vf b) { return a == b; }
V_INLINE vm v_isnan(vf a) { return a != a; }
V_INLINE vm v_mand(vm a, vm b) { return a & b; }
V_INLINE vm v_mandnot(vm a, vm b) { return a & ~b; }
V_INLINE vm v_mor(vm a, vm b) { return a | b; }
V_INLINE int v_many(vm a) { return (a[0] | a[1] | a[2] | a[3]) != 0; }
V_INLINE vf v_sel(vm m, vf t, vf f) { return (vf)((m & (vi)t) | (~m & (vi)f)); }
V_INLINE vf v_max(vf a, vf b) { return v_sel(a > b, a, b); } /* NaN: b */
V_INLINE vf v_min(vf a, vf b) { return v_sel(a < b, a, b); }
V_INLINE vf v_bits_and(vf a, uint32_t m) { return (vf)((vi)a & (int32_t)m); }
V_INLINE vf v_bits_xor(vf a, vf b) { return (vf)((vi)a ^ (vi)b); }
/* round to nearest even for |a| < 2^23 by the 1.5 * 2^23 trick (callers
 * clamp first); exact in the default rounding mode */
V_INLINE vf v_round(vf a)
{
    const vf magic = v_set1(12582912.0f);
    return (a + magic) - magic;
}
V_INLINE vi v_cvt_i(vf a) { return __builtin_convertvector(a, vi); }
V_INLINE vi v_i_sra1(vi a) { return a >> 1; }
V_INLINE vi v_i_sub(vi a, vi b) { return a - b; }
V_INLINE vf v_pow2i(vi n) { return (vf)((n + 127) << 23); }
V_INLINE vi v_as_i(vf a) { return (vi)a; }
V_INLINE vf v_as_f(vi a) { return (vf)a; }
V_INLINE vi v_i_srl23(vi a) { return (vi)((uint32_t __attribute__((vector_size(16))))a >> 23); }
V_INLINE vi v_i_and(vi a, int32_t m) { return a & m; }
V_INLINE vi v_i_or(vi a, int32_t m) { return a | m; }
V_INLINE vi v_i_addc(vi a, int32_t c) { return a + c; }
V_INLINE vf v_i_tof(vi a) { return __builtin_convertvector(a, vf); }

/* lane l of the result = the sum of the lanes of x[l] */
V_INLINE vf v_reduce_lanes(const vf *x)
{
    vf r;
    for (int l = 0; l < 4; l++)
        r[l] = (x[l][0] + x[l][1]) + (x[l][2] + x[l][3]);
    return r;
}

V_INLINE vd vd_zero(void) { return (vd){0.0, 0.0}; }
V_INLINE vd vd_add(vd a, vd b) { return a + b; }
V_INLINE vd vd_lo(vf a) { return (vd){a[0], a[1]}; }
V_INLINE vd vd_hi(vf a) { return (vd){a[2], a[3]}; }
V_INLINE vd vd_load(const double *p)
{
    vd v;
    memcpy(&v, p, sizeof v);
    return v;
}
V_INLINE void vd_store(double *p, vd v) { memcpy(p, &v, sizeof v); }

/* ================================================================ plain C */
#else
#include <math.h>

#define V_ISA "scalar"
#define V_LEN 1
typedef float vf;
typedef int vm;
typedef int32_t vi;
typedef double vd;

V_INLINE vf v_zero(void) { return 0.0f; }
V_INLINE vf v_set1(float x) { return x; }
V_INLINE vf v_load(const float *p) { return *p; }
V_INLINE void v_store(float *p, vf v) { *p = v; }
V_INLINE vf v_load_n(const float *p, int n) { (void)n; return *p; }
V_INLINE void v_store_n(float *p, vf v, int n) { (void)n; *p = v; }
V_INLINE vf v_add(vf a, vf b) { return a + b; }
V_INLINE vf v_sub(vf a, vf b) { return a - b; }
V_INLINE vf v_mul(vf a, vf b) { return a * b; }
V_INLINE vf v_div(vf a, vf b) { return a / b; }
V_INLINE vf v_fma(vf a, vf b, vf c) { return a * b + c; }
V_INLINE vf v_sqrt(vf a) { return sqrtf(a); }
V_INLINE vm v_lt(vf a, vf b) { return a < b; }
V_INLINE vm v_gt(vf a, vf b) { return a > b; }
V_INLINE vm v_ge(vf a, vf b) { return a >= b; }
V_INLINE vm v_eq(vf a, vf b) { return a == b; }
V_INLINE vm v_isnan(vf a) { return a != a; }
V_INLINE vm v_mand(vm a, vm b) { return a && b; }
V_INLINE vm v_mandnot(vm a, vm b) { return a && !b; }
V_INLINE vm v_mor(vm a, vm b) { return a || b; }
V_INLINE int v_many(vm a) { return a != 0; }
V_INLINE vf v_sel(vm m, vf t, vf f) { return m ? t : f; }
V_INLINE vf v_max(vf a, vf b) { return a > b ? a : b; }
V_INLINE vf v_min(vf a, vf b) { return a < b ? a : b; }
V_INLINE vi v_as_i(vf a)
{
    vi i;
    memcpy(&i, &a, sizeof i);
    return i;
}
V_INLINE vf v_as_f(vi a)
{
    vf f;
    memcpy(&f, &a, sizeof f);
    return f;
}
V_INLINE vf v_bits_and(vf a, uint32_t m) { return v_as_f((vi)((uint32_t)v_as_i(a) & m)); }
V_INLINE vf v_bits_xor(vf a, vf b) { return v_as_f(v_as_i(a) ^ v_as_i(b)); }
V_INLINE vf v_round(vf a)
{
    volatile float magic = 12582912.0f; /* keep the compiler from folding */
    return (a + magic) - magic;
}
V_INLINE vi v_cvt_i(vf a) { return (vi)a; }
V_INLINE vi v_i_sra1(vi a) { return a >> 1; }
V_INLINE vi v_i_sub(vi a, vi b) { return a - b; }
V_INLINE vf v_pow2i(vi n) { return v_as_f((vi)((uint32_t)(n + 127) << 23)); }
V_INLINE vi v_i_srl23(vi a) { return (vi)((uint32_t)a >> 23); }
V_INLINE vi v_i_and(vi a, int32_t m) { return a & m; }
V_INLINE vi v_i_or(vi a, int32_t m) { return a | m; }
V_INLINE vi v_i_addc(vi a, int32_t c) { return a + c; }
V_INLINE vf v_i_tof(vi a) { return (vf)a; }
V_INLINE vf v_reduce_lanes(const vf *x) { return x[0]; }
#endif

/* ================================================================ common */

V_INLINE vf v_abs(vf a) { return v_bits_and(a, 0x7fffffffu); }
V_INLINE vf v_signbit(vf a) { return v_bits_and(a, 0x80000000u); }

/* Partial vectors: lanes [0, n) for 0 < n <= V_LEN, full loads when n is
 * V_LEN.  The masked forms never touch memory past lane n. */
V_INLINE vf v_loadp(const float *p, int n) { return n >= V_LEN ? v_load(p) : v_load_n(p, n); }
V_INLINE void v_storep(float *p, vf v, int n)
{
    if (n >= V_LEN)
        v_store(p, v);
    else
        v_store_n(p, v, n);
}

#endif
