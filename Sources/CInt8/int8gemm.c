#include "int8gemm.h"
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

long edgedistill_int8_padded_k(long k) { return (k + 3) / 4 * 4; }

long edgedistill_int8_packed_size(long n, long k) {
    return (n + 15) / 16 * 16 * edgedistill_int8_padded_k(k);
}

void edgedistill_int8_pack_b(int8_t *packed, const int8_t *b, long n, long k) {
    long kp = edgedistill_int8_padded_k(k), blocks = (n + 15) / 16;
    memset(packed, 0, (size_t)(blocks * 16 * kp));
    for (long blk = 0; blk < blocks; blk++) {
        int8_t *dst = packed + blk * 16 * kp;
        for (long q = 0; q < kp / 4; q++)
            for (long col = 0; col < 16; col++)
                for (long e = 0; e < 4; e++) {
                    long j = blk * 16 + col, p = q * 4 + e;
                    dst[(q * 16 + col) * 4 + e] = (j < n && p < k) ? b[j * k + p] : 0;
                }
    }
}

/* Stores 16 int32 (two vectors) into row c, only the first `valid` columns. */
#if defined(__AVX2__)
static inline void store16(int32_t *c, __m256i lo, __m256i hi, long valid) {
    if (valid >= 16) {
        _mm256_storeu_si256((__m256i *)c, lo);
        _mm256_storeu_si256((__m256i *)(c + 8), hi);
    } else {
        int32_t tmp[16];
        _mm256_storeu_si256((__m256i *)tmp, lo);
        _mm256_storeu_si256((__m256i *)(tmp + 8), hi);
        memcpy(c, tmp, (size_t)valid * sizeof(int32_t));
    }
}
#endif

void edgedistill_int8_gemm(int32_t *c, long ldc, const uint8_t *a, const int8_t *packed,
                           long m, long n, long k, long j0, long j1) {
    long kp = edgedistill_int8_padded_k(k), steps = kp / 4;
#if defined(__AVX2__)
    const __m256i ones = _mm256_set1_epi16(1);
    for (long j = j0; j < j1; j += 16) {
        const int8_t *bp = packed + (j / 16) * 16 * kp;
        long valid = n - j < 16 ? n - j : 16;
        long i = 0;
        for (; i + 4 <= m; i += 4) {
            const uint8_t *a0 = a + i * kp, *a1 = a0 + kp, *a2 = a1 + kp, *a3 = a2 + kp;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
            __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (long q = 0; q < steps; q++) {
                __m256i b0 = _mm256_loadu_si256((const __m256i *)(bp + q * 64));
                __m256i b1 = _mm256_loadu_si256((const __m256i *)(bp + q * 64 + 32));
                int32_t w;
                __m256i x;
                memcpy(&w, a0 + q * 4, 4); x = _mm256_set1_epi32(w);
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
                memcpy(&w, a1 + q * 4, 4); x = _mm256_set1_epi32(w);
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));
                c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
                memcpy(&w, a2 + q * 4, 4); x = _mm256_set1_epi32(w);
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));
                c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
                memcpy(&w, a3 + q * 4, 4); x = _mm256_set1_epi32(w);
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));
                c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
            }
            store16(c + i * ldc + j, c00, c01, valid);
            store16(c + (i + 1) * ldc + j, c10, c11, valid);
            store16(c + (i + 2) * ldc + j, c20, c21, valid);
            store16(c + (i + 3) * ldc + j, c30, c31, valid);
        }
        for (; i < m; i++) {
            const uint8_t *a0 = a + i * kp;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00;
            for (long q = 0; q < steps; q++) {
                __m256i b0 = _mm256_loadu_si256((const __m256i *)(bp + q * 64));
                __m256i b1 = _mm256_loadu_si256((const __m256i *)(bp + q * 64 + 32));
                int32_t w;
                memcpy(&w, a0 + q * 4, 4);
                __m256i x = _mm256_set1_epi32(w);
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
            }
            store16(c + i * ldc + j, c00, c01, valid);
        }
    }
#else
    /* Portable fallback: same packed layout, plain loops. */
    for (long j = j0; j < j1; j += 16) {
        const int8_t *bp = packed + (j / 16) * 16 * kp;
        long valid = n - j < 16 ? n - j : 16;
        for (long i = 0; i < m; i++) {
            for (long col = 0; col < valid; col++) {
                int32_t s = 0;
                for (long q = 0; q < steps; q++)
                    for (long e = 0; e < 4; e++)
                        s += (int32_t)a[i * kp + q * 4 + e] * (int32_t)bp[(q * 16 + col) * 4 + e];
                c[i * ldc + j + col] = s;
            }
        }
    }
#endif
}
