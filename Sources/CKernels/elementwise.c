#include "elementwise.h"
#include <math.h>
#include <string.h>

/* AVX-512 versions of the Swift element-wise kernels (see the header for what each mirrors).
   Compiled for AVX-512 through target attributes, so the file builds with the package's AVX2
   flags and these functions run only where edgedistill_cpu_isa() found AVX-512. */

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

/* The mask of the first `n` of 16 lanes (all 16 when n >= 16). */
TARGET static inline __mmask16 lanes(long n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1);
}

/* fastExp of FastMath.swift, 16 lanes: same constants, same operation order. */
TARGET static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 shifter = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.442695041f)), shifter), shifter);
    __m512 r = _mm512_sub_ps(_mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693145752f))),
                             _mm512_mul_ps(n, _mm512_set1_ps(1.42860677e-6f)));
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

/* fastErf of FastMath.swift, 16 lanes. */
TARGET static inline __m512 erf16(__m512 x) {
    __m512 a = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(4.0f));
    __m512 u = _mm512_mul_ps(a, a);
    __m512 r = _mm512_set1_ps(-9.728257118e-06f);
    r = _mm512_fmadd_ps(r, u, _mm512_set1_ps(1.128812328e-04f));
    r = _mm512_fmadd_ps(r, u, _mm512_set1_ps(-8.487260801e-04f));
    r = _mm512_fmadd_ps(r, u, _mm512_set1_ps(5.221261027e-03f));
    r = _mm512_fmadd_ps(r, u, _mm512_set1_ps(-2.686551728e-02f));
    r = _mm512_fmadd_ps(r, u, _mm512_set1_ps(1.128378411e-01f));
    r = _mm512_fmadd_ps(r, u, _mm512_set1_ps(-3.761263859e-01f));
    r = _mm512_fmadd_ps(r, u, _mm512_set1_ps(1.283791671e-01f));
    __m512 small = _mm512_fmadd_ps(a, r, a);
    __m512 z = _mm512_fmadd_ps(_mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f))),
                               _mm512_set1_ps(6.0f), _mm512_set1_ps(-3.0f));
    __m512 h = _mm512_set1_ps(8.114903414e-05f);
    h = _mm512_fmadd_ps(h, z, _mm512_set1_ps(-2.697340462e-04f));
    h = _mm512_fmadd_ps(h, z, _mm512_set1_ps(8.440340775e-04f));
    h = _mm512_fmadd_ps(h, z, _mm512_set1_ps(-3.179914445e-03f));
    h = _mm512_fmadd_ps(h, z, _mm512_set1_ps(1.061396337e-02f));
    h = _mm512_fmadd_ps(h, z, _mm512_set1_ps(-5.030098947e-02f));
    h = _mm512_fmadd_ps(h, z, _mm512_set1_ps(5.575472581e-01f));
    h = _mm512_fmadd_ps(h, z, _mm512_set1_ps(-1.364941081e+00f));
    __m512 lo = _mm512_fmsub_ps(a, a, u);
    __m512 e = exp16(_mm512_sub_ps(h, u));
    __m512 large = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_fnmadd_ps(e, lo, e));
    __m512 y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(1.0f), _CMP_LT_OQ), large, small);
    __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_sub_ps(y, negative, _mm512_setzero_ps(), y);
}

TARGET static inline __m512 gelu16(__m512 x) {
    __m512 half = _mm512_mul_ps(_mm512_set1_ps(0.5f), x);
    return _mm512_mul_ps(half, _mm512_add_ps(_mm512_set1_ps(1.0f), erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)))));
}

TARGET
void edgedistill_quantize_rows_avx512(uint8_t *q, float *scales, int32_t *zeros, const float *x,
                                      long rows, long k, long kp, float levels) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * k;
        uint8_t *out = q + r * kp;
        __m512 low = _mm512_setzero_ps(), high = low;
        for (long i = 0; i < k; i += 16) {
            __m512 v = _mm512_maskz_loadu_ps(lanes(k - i), row + i);
            low = _mm512_min_ps(low, v);
            high = _mm512_max_ps(high, v);
        }
        float lo = _mm512_reduce_min_ps(low), hi = _mm512_reduce_max_ps(high);
        float scale = hi > lo ? (hi - lo) / levels : 1.0f;
        float zero = rintf(-lo / scale);
        zero = zero < 0 ? 0 : (zero > levels ? levels : zero);
        float inverse = 1.0f / scale;
        scales[r] = scale;
        zeros[r] = (int32_t)zero;
        const __m512 vi = _mm512_set1_ps(inverse), vz = _mm512_set1_ps(zero), vl = _mm512_set1_ps(levels);
        for (long i = 0; i < k; i += 16) {
            __mmask16 m = lanes(k - i);
            __m512 v = _mm512_maskz_loadu_ps(m, row + i);
            v = _mm512_add_ps(_mm512_roundscale_ps(_mm512_mul_ps(v, vi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
            v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), vl);
            _mm_mask_storeu_epi8(out + i, m, _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(v)));
        }
        for (long i = k; i < kp; i++) out[i] = 0;
    }
}

TARGET
void edgedistill_dequantize_avx512(float *out, const int32_t *acc, long rows, long n, long j0, long j1,
                                   const float *scales, const int32_t *zeros, const float *wscales,
                                   const int32_t *colsum, const float *bias, int gelu,
                                   const float *residual) {
    for (long r = 0; r < rows; r++) {
        const __m512i zero = _mm512_set1_epi32(zeros[r]);
        const __m512 scale = _mm512_set1_ps(scales[r]);
        const int32_t *a = acc + r * n;
        float *o = out + r * n;
        for (long j = j0; j < j1; j += 16) {
            __mmask16 m = lanes(j1 - j);
            __m512i centred = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, a + j),
                                               _mm512_mullo_epi32(zero, _mm512_maskz_loadu_epi32(m, colsum + j)));
            __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(centred), _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(m, wscales + j)));
            if (bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, bias + j));
            if (gelu) y = gelu16(y);
            if (residual) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, residual + r * n + j));
            _mm512_mask_storeu_ps(o + j, m, y);
        }
    }
}

TARGET
void edgedistill_gelu_avx512(float *out, const float *x, long count) {
    for (long i = 0; i < count; i += 16) {
        __mmask16 m = lanes(count - i);
        _mm512_mask_storeu_ps(out + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

TARGET
void edgedistill_layernorm_avx512(float *out, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, long rows, long c, float eps) {
    const float inv = 1.0f / (float)c;
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * c;
        __m512 s = _mm512_setzero_ps();
        for (long i = 0; i < c; i += 16) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(lanes(c - i), row + i));
        float mu = _mm512_reduce_add_ps(s) * inv;
        const __m512 vm = _mm512_set1_ps(mu);
        __m512 v = _mm512_setzero_ps();
        for (long i = 0; i < c; i += 16) {
            __mmask16 m = lanes(c - i);
            __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, row + i), vm);
            v = _mm512_fmadd_ps(d, d, v);
        }
        float rs = 1.0f / sqrtf(_mm512_reduce_add_ps(v) * inv + eps);
        const __m512 vr = _mm512_set1_ps(rs);
        float *o = out + r * c;
        for (long i = 0; i < c; i += 16) {
            __mmask16 m = lanes(c - i);
            __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + i), vm), vr),
                                     _mm512_maskz_loadu_ps(m, gamma + i));
            _mm512_mask_storeu_ps(o + i, m, _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, beta + i)));
        }
        mean[r] = mu;
        rstd[r] = rs;
    }
}

TARGET
void edgedistill_attention_head_avx512(float *out, long os, const float *q, long qs, const float *k,
                                       const float *v, long kvs, long r, long l, long hs,
                                       float *probs, long t) {
    const float scale = 1.0f / sqrtf((float)hs);
    float scratch[hs * 16];
    /* Scores: keys 16 at a time, transposed once into scratch (hs, 16), then every query row. */
    for (long j0 = 0; j0 < l; j0 += 16) {
        long width = l - j0 < 16 ? l - j0 : 16;
        for (long d = 0; d < hs; d++)
            for (long j = 0; j < 16; j++) scratch[d * 16 + j] = j < width ? k[(j0 + j) * kvs + d] : 0.0f;
        for (long i = 0; i < r; i++) {
            const float *qi = q + i * qs;
            __m512 s = _mm512_setzero_ps();
            for (long d = 0; d < hs; d++)
                s = _mm512_fmadd_ps(_mm512_set1_ps(qi[d] * scale), _mm512_loadu_ps(scratch + d * 16), s);
            _mm512_mask_storeu_ps(probs + i * t + j0, lanes(width), s);
        }
    }
    for (long i = 0; i < r; i++) {
        float *p = probs + i * t;
        __m512 largest = _mm512_set1_ps(-INFINITY);
        for (long j = 0; j < l; j += 16) largest = _mm512_max_ps(largest, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), lanes(l - j), p + j));
        const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(largest));
        __m512 sum = _mm512_setzero_ps();
        for (long j = 0; j < l; j += 16) {
            __mmask16 m = lanes(l - j);
            __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + j), top)));
            sum = _mm512_add_ps(sum, e);
            _mm512_mask_storeu_ps(p + j, m, e);
        }
        const __m512 norm = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        for (long j = 0; j < l; j += 16) {
            __mmask16 m = lanes(l - j);
            _mm512_mask_storeu_ps(p + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j), norm));
        }
        /* Context: out_i = sum_j p_j v_j, 16 columns at a time. */
        float *o = out + i * os;
        for (long c0 = 0; c0 < hs; c0 += 32) {
            __mmask16 m0 = lanes(hs - c0), m1 = lanes(hs - c0 - 16);
            __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
            for (long j = 0; j < l; j++) {
                const __m512 w = _mm512_set1_ps(p[j]);
                const float *vj = v + j * kvs + c0;
                acc0 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m0, vj), acc0);
                if (m1) acc1 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m1, vj + 16), acc1);
            }
            _mm512_mask_storeu_ps(o + c0, m0, acc0);
            if (m1) _mm512_mask_storeu_ps(o + c0 + 16, m1, acc1);
        }
    }
}

#else
/* Not x86-64: never called (edgedistill_cpu_isa() reports the portable path); defined so the
   package links. */
void edgedistill_quantize_rows_avx512(uint8_t *q, float *scales, int32_t *zeros, const float *x,
                                      long rows, long k, long kp, float levels) {
    (void)q; (void)scales; (void)zeros; (void)x; (void)rows; (void)k; (void)kp; (void)levels;
}
void edgedistill_dequantize_avx512(float *out, const int32_t *acc, long rows, long n, long j0, long j1,
                                   const float *scales, const int32_t *zeros, const float *wscales,
                                   const int32_t *colsum, const float *bias, int gelu,
                                   const float *residual) {
    (void)out; (void)acc; (void)rows; (void)n; (void)j0; (void)j1; (void)scales; (void)zeros; (void)wscales; (void)colsum;
    (void)bias; (void)gelu; (void)residual;
}
void edgedistill_gelu_avx512(float *out, const float *x, long count) { (void)out; (void)x; (void)count; }
void edgedistill_layernorm_avx512(float *out, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, long rows, long c, float eps) {
    (void)out; (void)mean; (void)rstd; (void)x; (void)gamma; (void)beta; (void)rows; (void)c; (void)eps;
}
void edgedistill_attention_head_avx512(float *out, long os, const float *q, long qs, const float *k,
                                       const float *v, long kvs, long r, long l, long hs,
                                       float *probs, long t) {
    (void)out; (void)os; (void)q; (void)qs; (void)k; (void)v; (void)kvs; (void)r; (void)l; (void)hs;
    (void)probs; (void)t;
}
#endif
